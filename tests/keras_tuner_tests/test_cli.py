"""``tunelab tune`` with a hypermodel of one's own: tracked trials, crash resume, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HYPERMODEL = """
    import keras
    from sklearn.datasets import load_digits

    def build_model(hp):
        model = keras.Sequential([keras.Input(shape=(64,))])
        for i in range(hp.Int("num_layers", 1, 3)):
            model.add(keras.layers.Dense(hp.Int("units_" + str(i), 8, 32, 8), activation="relu"))
        model.add(keras.layers.Dense(10, activation="softmax"))
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def broken(hp):
        raise ValueError("no model today")

    def load():
        digits = load_digits()
        x, y = digits.data.astype("float32") / 16.0, digits.target
        return {"x": x[:300], "y": y[:300], "validation_data": (x[300:400], y[300:400])}
"""


def write_project(tmp_path: Path, **fields) -> Path:
    (tmp_path / "tunelab.toml").write_text("")
    (tmp_path / "small.py").write_text(textwrap.dedent(HYPERMODEL))
    spec = {
        "hypermodel": "small.py:build_model",
        "data": "small.py:load",
        "metric": "val_accuracy",
        "fit": {"epochs": 2, "verbose": 0},
        "budget": {"n_trials": 3},
        "seed": 0,
        **fields,
    }
    path = tmp_path / "small.json"
    path.write_text(json.dumps(spec))
    return path


def hyperparameters(run: dict) -> dict:
    """A run's config without the seed Sacred draws for each run."""
    return {key: value for key, value in run["config"].items() if key != "seed"}


def test_a_hypermodel_spec_is_tuned_with_tracked_trials_and_resumes_after_kill(tunelab_env, tmp_path):
    spec = write_project(tmp_path, fit={"epochs": 4, "verbose": 0})
    process = tunelab_env.popen("tune", str(spec), project=tmp_path)
    deadline = time.monotonic() + 180
    training = {"status": "RUNNING", "info.study": "small", "heartbeat": {"$ne": None}}  # past its first beat
    while (killed := tunelab_env.database.runs.find_one(training)) is None:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()

    result = tunelab_env.cli("tune", str(spec), project=tmp_path, timeout=400)
    assert result.returncode == 0, result.stderr
    runs = tunelab_env.database.runs
    assert runs.find_one({"_id": killed["_id"]})["status"] == "FAILED"
    completed = list(runs.find({"info.study": "small", "status": "COMPLETED"}))
    assert sorted(r["info"]["trial"] for r in completed) == [0, 1, 2]
    retried = next(r for r in completed if r["info"]["trial"] == killed["info"]["trial"])
    assert hyperparameters(retried) == hyperparameters(killed)  # the killed trial ran again, with its values
    for run in completed:
        units = {k for k in run["config"] if k.startswith("units_")}
        assert units == {f"units_{i}" for i in range(run["config"]["num_layers"])}
        metric = tunelab_env.database.metrics.find_one({"run_id": run["_id"], "name": "val_accuracy"})
        assert len(metric["values"]) == 4


@pytest.mark.parametrize(
    ("fields", "message", "up_front"),
    [
        ({"metric": "val_acuracy"}, "objective 'val_acuracy' is not a metric the model logs", False),
        ({"hypermodel": "small.py:broken"}, "small.py:broken does not build: ValueError('no model today')", True),
        ({"fit": {"epochs": 1, "epoch": 2}}, "key 'fit.epoch': not an argument of Model.fit (known: batch_size", True),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tunelab_env, tmp_path, fields, message, up_front):
    """A mistake found before the first trial (``up_front``) leaves no run and no Keras Tuner project behind."""
    spec = write_project(tmp_path, budget={"n_trials": 1}, **fields)
    result = tunelab_env.cli("tune", str(spec), project=tmp_path, timeout=300)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    if up_front:
        assert tunelab_env.database.runs.count_documents({}) == 0
        assert not list((tunelab_env.settings.state_dir / "keras-tuner").glob("*"))
