"""The drop-in tuners on the book's listing: every execution a tracked run, against the real database."""

from __future__ import annotations

import importlib.util
import os

import pytest

pytestmark = pytest.mark.slow

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")
from sklearn.datasets import load_digits  # noqa: E402

import tunelab.keras_tuner as kt  # noqa: E402
from tests.conftest import REPO  # noqa: E402


def load_book_hypermodel():
    """The book's listing (3.2.4) on 8x8 digits: ``hypermodels/book.py``."""
    spec = importlib.util.spec_from_file_location("book_hypermodel", REPO / "hypermodels" / "book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_model


build_model = load_book_hypermodel()


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    images = data.images.astype("float32") / 16.0
    return images[:300], data.target[:300], images[300:400], data.target[300:400]


def check_runs(database, study: str) -> list[dict]:
    runs = list(database.runs.find({"info.study": study}).sort("_id", 1))
    assert runs and all(r["status"] == "COMPLETED" and r["info"]["engine"] == "keras-tuner" for r in runs)
    for run in runs:
        layers = run["config"]["num_layers"]
        units = {k for k in run["config"] if k.startswith("units_")}
        assert units == {f"units_{i}" for i in range(layers)}  # only the active ones
        assert sorted(run["info"]["params"]) == sorted(["num_layers", "learning_rate", *units])
        metric = database.metrics.find_one({"run_id": run["_id"], "name": "val_accuracy"})
        epochs = run["config"].get("tuner/epochs", 2) - run["config"].get("tuner/initial_epoch", 0)
        assert len(metric["values"]) == epochs
        assert [a["name"] for a in run["artifacts"]] == ["model.keras"]
    return runs


def test_the_books_random_search_tracks_every_execution(tunelab_env, tmp_path, digits):
    x, y, x_val, y_val = digits
    tuner = kt.RandomSearch(
        build_model,
        objective="val_accuracy",
        max_trials=2,
        executions_per_trial=2,
        directory=str(tmp_path / "mnist_dir"),
        seed=3,
    )
    tuner.search(x=x, y=y, epochs=2, validation_data=(x_val, y_val), verbose=0)
    runs = check_runs(tunelab_env.database, "mnist_dir")
    assert sorted((r["info"]["trial"], r["info"]["execution"]) for r in runs) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    best = tuner.get_best_models(num_models=1)[0]
    loss, accuracy = best.evaluate(x_val, y_val, verbose=0)
    assert 0.0 <= accuracy <= 1.0
    assert tuner.get_best_hyperparameters()[0].values["num_layers"] in {r["config"]["num_layers"] for r in runs}

    shown = tunelab_env.cli("study", "show", "mnist_dir", "--export", "json", project=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert '"COMPLETE": 2' in shown.stdout


def test_hyperband_promotions_continue_and_link_the_earlier_run(tunelab_env, tmp_path, digits):
    x, y, x_val, y_val = digits
    tuner = kt.Hyperband(
        build_model,
        objective="val_accuracy",
        max_epochs=2,
        factor=2,
        directory=str(tmp_path / "hb"),
        project_name="hello_hyperband",
        seed=1,
    )
    tuner.search(x=x, y=y, epochs=2, validation_data=(x_val, y_val), verbose=0)
    runs = check_runs(tunelab_env.database, "hello_hyperband")
    promoted = [r for r in runs if "continues" in r["info"]]
    assert promoted, "Hyperband promoted no trial"
    by_id = {r["_id"]: r for r in runs}
    for run in promoted:
        parent = by_id[run["info"]["continues"]]
        assert parent["info"]["trial"] == run["info"]["continues_trial"]
        assert parent["config"]["tuner/epochs"] == run["config"]["tuner/initial_epoch"]
        assert {k: v for k, v in parent["config"].items() if not k.startswith(("tuner/", "seed"))} == {
            k: v for k, v in run["config"].items() if not k.startswith(("tuner/", "seed"))
        }


def test_a_misspelt_objective_stops_the_search_with_one_message(tunelab_env, tmp_path, digits):
    x, y, x_val, y_val = digits
    tuner = kt.RandomSearch(
        build_model, objective=kt_objective("val_acuracy"), max_trials=1, directory=str(tmp_path / "typo")
    )
    with pytest.raises(Exception, match="objective 'val_acuracy' is not a metric the model logs"):
        tuner.search(x=x, y=y, epochs=1, validation_data=(x_val, y_val), verbose=0)
    (run,) = tunelab_env.database.runs.find({"info.study": "typo"})
    assert run["status"] == "FAILED"


def kt_objective(name: str):
    import keras_tuner

    return keras_tuner.Objective(name, "max")
