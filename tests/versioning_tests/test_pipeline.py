"""`dvc repro` of dvc.yaml in a copy of the project: end to end, no-op, partial re-runs, the train branch."""

from __future__ import annotations

import csv
import hashlib
import json
import re

import pytest

pytestmark = pytest.mark.slow


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '(\w+)'", output))


def test_dvc_repro_runs_the_pipeline_then_only_what_changed(project_clone):
    clone, database = project_clone, project_clone.tunelab.database
    clone.set_params(tune={"n_trials": 2, "top": 1}, stack={"folds": 2})
    head = clone.commit("small budget")

    first = clone.ok("dvc", "repro", timeout=600)
    assert stages_run(first) == {"prepare", "train", "tune", "stack", "evaluate", "transform", "register", "dashboard"}
    assert (clone.path / "dashboards" / "site" / "index.html").is_file()
    metrics = json.loads((clone.path / "metrics.json").read_text())
    assert metrics["selected"] in ("stack", "best_single") and 0.5 < metrics["stack"]["accuracy"] <= 1
    with (clone.path / "predictions" / "batch.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == metrics["test_rows"]
    assert (clone.path / "models" / "selected" / "model.joblib").is_file()

    # Every run is tracked, on the training split, with the commit and the DVC md5 of what it read.
    train_file = clone.path / "data" / "processed" / "train" / "breast_cancer.npy"
    runs = list(database.runs.find({}, {"info": 1, "status": 1, "experiment.name": 1}))
    assert len(runs) == 2 * 2 + 1  # two studies of two trials, one stack
    for run in runs:
        assert run["status"] == "COMPLETED"
        assert run["info"]["data_path"] == "data/processed/train/breast_cancer.npy"
        assert run["info"]["data_version"] == hashlib.md5(train_file.read_bytes()).hexdigest()
        assert run["info"]["git_commit"].startswith(head[:12])
    registered = json.loads((clone.path / "models" / "registered.json").read_text())
    assert (
        database.model_registry.find_one({"name": registered["name"], "version": 1})["run_id"] == registered["run_id"]
    )

    again = clone.ok("dvc", "repro")
    assert stages_run(again) == set() and database.runs.count_documents({}) == len(runs)
    assert "up to date" in clone.ok("dvc", "status")

    clone.set_params(stack={"meta": "naive_bayes"})
    changed = clone.ok("dvc", "repro", timeout=600)
    # transform and register follow only if the selected model changed
    assert (
        {"stack", "evaluate", "dashboard"}
        <= stages_run(changed)
        <= {"stack", "evaluate", "transform", "register", "dashboard"}
    )
    assert "up to date" in clone.ok("dvc", "status")

    clone.ok("dvc", "exp", "run", "-S", "stack.folds=3", timeout=600)
    assert json.loads((clone.path / "metrics.json").read_text())["stack"]["run_id"] > metrics["stack"]["run_id"]

    clone.set_params(tune={"enabled": False})
    branch = clone.ok("dvc", "repro", timeout=600)
    assert {"train", "tune", "stack"} <= stages_run(branch)
    trained = list(database.runs.find({"info.stage": "train"}, {"experiment.name": 1}))
    assert sorted(r["experiment"]["name"] for r in trained) == ["knn", "random_forest", "svm"]
    assert json.loads((clone.path / "models" / "tune" / "candidates.json").read_text())["candidates"] == []
    assert json.loads((clone.path / "models" / "stack" / "model.json").read_text())["held_out"]["base"]


def test_bad_params_name_the_key(project_clone):
    clone = project_clone
    clone.set_params(tune={"n_trials": 0})
    done = clone.run("tunelab", "pipeline", "tune")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {clone.path / 'params.yaml'}: key 'tune.n_trials': Input should be greater than or equal to 1, got 0"
    ]
    assert clone.run("tunelab", "pipeline", "deploy").stderr.startswith("error: unknown pipeline stage 'deploy'")


def test_switching_to_a_regression_data_set_needs_only_prepare_dataset(project_clone):
    """The experiments, search specs and stack pick a regressor, r2 and ridge from the data set's task."""
    clone, database = project_clone, project_clone.tunelab.database
    clone.set_params(prepare={"dataset": "diabetes"}, tune={"n_trials": 2, "top": 1}, stack={"folds": 2})
    clone.commit("diabetes")

    clone.ok("dvc", "repro", timeout=600)
    metrics = json.loads((clone.path / "metrics.json").read_text())
    assert metrics["dataset"] == "diabetes" and metrics["task"] == "regression"
    for model in ("best_single", "stack"):
        assert set(metrics[model]) == {"run_id", "r2", "rmse", "mae"} and metrics[model]["rmse"] > 0
    stack_run = database.runs.find_one({"_id": metrics["stack"]["run_id"]})
    assert (stack_run["config"]["meta"], stack_run["config"]["scorer"]) == ("ridge", "r2")
    assert {r["info"]["task"] for r in database.runs.find({}, {"info.task": 1})} == {"regression"}

    clone.set_params(tune={"enabled": False})
    clone.ok("dvc", "repro", timeout=600)
    trained = list(database.runs.find({"info.stage": "train"}, {"experiment.name": 1, "info.dataset": 1}))
    assert sorted(r["experiment"]["name"] for r in trained) == ["knn", "random_forest", "svm"]
    assert {r["info"]["dataset"] for r in trained} == {"diabetes"}
    assert "r2" in json.loads((clone.path / "metrics.json").read_text())["stack"]
