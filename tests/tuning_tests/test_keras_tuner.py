"""The Keras Tuner engine: its oracles drive tracked runs; a killed search resumes."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.conftest import REPO, TEST_PROJECT
from tests.tuning_tests.conftest import write_spec
from tests.tuning_tests.test_distributed import finish, start_tune, wait_for_running_trial

pytestmark = pytest.mark.slow


def test_hyperband_sets_the_resource_of_each_tracked_run(test_project_env, tmp_path):
    spec_path = write_spec(
        tmp_path,
        engine="keras-tuner",
        algorithm="hyperband",
        resource="steps",
        budget={"max_epochs": 4, "factor": 2},
    )
    result = test_project_env.cli("tune", str(spec_path), project=TEST_PROJECT, timeout=300)
    assert result.returncode == 0, result.stderr
    name = json.loads(spec_path.read_text())["study_name"]
    runs = list(test_project_env.database.runs.find({"info.study": name}))
    assert runs and all(r["status"] == "COMPLETED" and r["info"]["engine"] == "keras-tuner" for r in runs)
    assert {r["config"]["steps"] for r in runs} >= {1, 2, 4}  # Hyperband's rungs
    trial_files = sorted((test_project_env.settings.state_dir / "keras-tuner" / name).glob("trial_*/trial.json"))
    assert len(trial_files) == len(runs)

    shown = test_project_env.cli("study", "show", name, "--export", "json", project=TEST_PROJECT)
    report = json.loads(shown.stdout)
    assert report["engine"] == "keras-tuner" and report["counts"]["COMPLETE"] == len(runs)
    assert {t["run_id"] for t in report["trials"]} == {r["_id"] for r in runs}


def test_a_killed_search_resumes_and_marks_the_lost_run_failed(test_project_env, tmp_path):
    spec_path = write_spec(
        tmp_path,
        engine="keras-tuner",
        algorithm="random",
        budget={"n_trials": 3},
        space={"x": {"type": "float", "low": 0.0, "high": 1.0}, "steps": 4, "sleep_s": 0.5},
    )
    name = json.loads(spec_path.read_text())["study_name"]
    process = start_tune(test_project_env, spec_path)
    killed = wait_for_running_trial(test_project_env, name, timeout=120)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    finish(start_tune(test_project_env, spec_path))
    runs = test_project_env.database.runs
    assert runs.find_one({"_id": killed["_id"]})["status"] == "FAILED"
    completed = runs.count_documents({"info.study": name, "status": "COMPLETED"})
    assert completed == 3
    retried = runs.find_one({"info.study": name, "info.trial": killed["info"]["trial"], "status": "COMPLETED"})
    assert retried["config"]["x"] == killed["config"]["x"]


def test_the_books_mlp_with_keras_tuner_hyperband(tunelab_env, tmp_path):
    spec = json.loads((REPO / "configs" / "search" / "mlp_hyperband.json").read_text())
    spec.update(study_name="mlp-tiny", budget={"max_epochs": 2, "factor": 2})
    path = tmp_path / "mlp_tiny.json"
    path.write_text(json.dumps(spec))
    result = tunelab_env.cli("tune", str(path), timeout=300)
    assert result.returncode == 0, result.stderr
    runs = list(tunelab_env.database.runs.find({"info.study": "mlp-tiny"}))
    assert runs and all(r["status"] == "COMPLETED" for r in runs)
    promoted = [r for r in runs if r["config"]["warm_start_run"] is not None]
    assert promoted, "Hyperband promoted no trial"
    for run in runs:
        metric = tunelab_env.database.metrics.find_one({"run_id": run["_id"], "name": "val_accuracy"})
        assert len(metric["values"]) == run["config"]["epochs"] - run["config"]["initial_epoch"]
    for run in promoted:  # continues the stored model of the run it was promoted from
        assert run["info"]["continues"] == run["config"]["warm_start_run"]
        parent = tunelab_env.database.runs.find_one({"_id": run["config"]["warm_start_run"]})
        assert parent["config"]["epochs"] == run["config"]["initial_epoch"]
        assert parent["config"]["num_units_first_layer"] == run["config"]["num_units_first_layer"]


def test_a_json_space_search_with_two_workers_runs_each_trial_once(test_project_env, tmp_path):
    spec_path = write_spec(
        tmp_path,
        engine="keras-tuner",
        budget={"n_trials": 4},
        space={"x": {"type": "float", "low": 0.0, "high": 1.0}, "steps": 3, "sleep_s": 0.3},
    )
    name = json.loads(spec_path.read_text())["study_name"]
    result = test_project_env.cli("tune", str(spec_path), "--workers", "2", project=TEST_PROJECT, timeout=300)
    assert result.returncode == 0, result.stderr
    runs = list(test_project_env.database.runs.find({"info.study": name}))
    assert sorted(r["info"]["trial"] for r in runs) == [0, 1, 2, 3]  # exactly the budget, one run per trial
    assert all(r["status"] == "COMPLETED" and r["info"]["engine"] == "keras-tuner" for r in runs)
    assert {r["info"]["worker"] for r in runs} == {"tuner0", "tuner1"}
    shown = test_project_env.cli("study", "show", name, "--export", "json", project=TEST_PROJECT)
    assert json.loads(shown.stdout)["counts"]["COMPLETE"] == 4
