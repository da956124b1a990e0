"""One database per module holding the demo batch, two demo studies and a stack, read by every test."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO, TunelabEnv, _tunelab_env

BATCH = ["svm_c10", "svm_linear", "knn_k11", "logistic_regression_c01", "gradient_boosting_fast"]


def small_spec(tmp_path, name: str, **changes) -> str:
    spec = json.loads((REPO / "configs" / "search" / f"{name}.json").read_text())
    spec.update(changes)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    return str(path)


@pytest.fixture(scope="module")
def records(mongo_url, tmp_path_factory) -> TunelabEnv:
    """Runs of the demo batch, a 6-trial SVM study, a 6-trial pruned gradient-boosting study, one stack (~40 s)."""
    tmp_path = tmp_path_factory.mktemp("records")
    with pytest.MonkeyPatch.context() as monkeypatch:
        env = _tunelab_env(monkeypatch, tmp_path, mongo_url, REPO)
        done = env.cli("batch", *(f"configs/batch/{name}.json" for name in BATCH), "--workers", "2", timeout=300)
        assert done.returncode == 0, done.stderr
        svm = small_spec(
            tmp_path, "svm", study_name="svm-demo", algorithm="random", algorithm_options={}, budget={"n_trials": 6}
        )
        boosting = small_spec(
            tmp_path,
            "gradient_boosting",
            study_name="boosting-demo",
            budget={"n_trials": 6},
            pruner={"name": "median", "options": {"n_startup_trials": 2, "n_warmup_steps": 2}},
        )
        for spec in (svm, boosting):
            done = env.cli("tune", spec, "--workers", "2", timeout=300)
            assert done.returncode == 0, done.stderr
        ensemble = tmp_path / "ensemble.json"
        ensemble.write_text(
            json.dumps({"base_learners": [{"study": "svm-demo", "top": 2}], "layers": [{"folds": 2}], "n_jobs": 1})
        )
        done = env.cli("stack", str(ensemble), timeout=300)
        assert done.returncode == 0, done.stderr
        yield env
