"""What a run leaves in MongoDB, in Sacred's schema (which Omniboard reads)."""

from __future__ import annotations

import subprocess
import time

import gridfs
import pytest

from tunelab.data import load_dataset
from tunelab.tracking.runner import execute, prepare_run


def test_captured_output_is_what_the_run_printed(test_project_env):
    settings = test_project_env.settings
    outcome = execute(settings, prepare_run(settings, "slow", assignments=["steps=3"]))
    captured = test_project_env.database.runs.find_one({"_id": outcome.run_id})["captured_out"]
    assert [line for line in captured.splitlines() if line.startswith("step")] == [
        "step 0 done",
        "step 1 done",
        "step 2 done",
    ]


def test_completed_run_record_has_everything(tunelab_env):
    settings, database = tunelab_env.settings, tunelab_env.database
    outcome = execute(settings, prepare_run(settings, "gradient_boosting", assignments=["n_estimators=20"]))
    assert outcome.status == "COMPLETED"
    run = database.runs.find_one({"_id": outcome.run_id})

    assert run["status"] == "COMPLETED" and run["result"] == pytest.approx(outcome.result)
    assert run["config"]["n_estimators"] == 20 and run["config"]["seed"] == 42
    assert run["info"]["data_version"] == load_dataset("breast_cancer", settings).version
    repository = run["experiment"]["repositories"][0]
    assert len(repository["commit"]) == 40 and isinstance(repository["dirty"], bool)
    assert run["host"]["hostname"] and run["host"]["python_version"]
    assert any(dep.startswith("scikit-learn==") for dep in run["experiment"]["dependencies"])
    assert run["start_time"] <= run["stop_time"]

    metrics = {m["name"]: m for m in database.metrics.find({"run_id": outcome.run_id})}
    assert set(metrics) == {"train_loss", "test_accuracy", "train_accuracy"}
    assert metrics["train_loss"]["steps"] == list(range(1, 21))
    assert run["info"]["summary"]["test_accuracy"]["last"] == pytest.approx(metrics["test_accuracy"]["values"][-1])
    assert {m["name"] for m in run["info"]["metrics"]} == set(metrics)

    fs = gridfs.GridFS(database)
    (artifact,) = run["artifacts"]
    assert artifact["name"] == "model.joblib"
    assert fs.get(artifact["file_id"]).read()[:1]  # content is stored in fs.chunks
    assert database["fs.chunks"].count_documents({"files_id": artifact["file_id"]}) >= 1
    source_names = {name for name, _ in run["experiment"]["sources"]}
    assert "gradient_boosting.py" in source_names  # its helpers are tunelab's, recorded by version:
    assert any(dep.startswith("tunelab==") for dep in run["experiment"]["dependencies"])


def test_sources_are_stored_once(tunelab_env):
    settings, database = tunelab_env.settings, tunelab_env.database
    for c in ("1.0", "2.0"):
        execute(settings, prepare_run(settings, "svm", assignments=[f"C={c}"]))
    sources = database["fs.files"].count_documents({"filename": {"$regex": r"\.py$"}})
    assert sources == 1  # svm.py, not once per run


def test_sacred_cli_and_tunelab_cli_record_the_same_run(tunelab_env):
    sacred = tunelab_env.python("experiments/svm.py", "with", "configs/svm.json", "C=2.0")
    assert sacred.returncode == 0, sacred.stderr
    ours = tunelab_env.cli("run", "svm", "--config", "configs/svm.json", "--set", "C=2.0")
    assert ours.returncode == 0, ours.stderr
    first, second = tunelab_env.database.runs.find().sort("_id", 1)
    assert first["config"] == second["config"] and first["config"]["C"] == 2.0
    assert first["result"] == second["result"]
    assert first["experiment"]["name"] == second["experiment"]["name"] == "svm"
    assert first["info"]["data_version"] == second["info"]["data_version"]


def test_failed_run_is_recorded_as_failed(test_project_env):
    settings, database = test_project_env.settings, test_project_env.database
    outcome = execute(settings, prepare_run(settings, "boom", assignments=["message='kaput'"]))
    assert outcome.status == "FAILED" and "kaput" in outcome.error
    run = database.runs.find_one({"_id": outcome.run_id})
    assert run["status"] == "FAILED" and "RuntimeError: kaput" in "".join(run["fail_trace"])
    assert database.metrics.find_one({"run_id": outcome.run_id})["values"] == [0.5]


def test_metrics_reach_the_database_while_the_run_goes(test_project_env):
    """Sacred flushes on each heartbeat; tunelab's heartbeat is 1 s (Sacred's default is 10 s)."""
    process = subprocess.Popen(
        [*test_project_env.python_command(), "experiments/slow.py", "with", "steps=40", "sleep_s=0.1"],
        cwd=test_project_env.settings.project_dir,
        env=test_project_env.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        seen = None
        while time.monotonic() < deadline and seen is None:
            metric = test_project_env.database.metrics.find_one({"name": "value"})
            run = test_project_env.database.runs.find_one()
            if metric and run and run["status"] == "RUNNING":
                seen = len(metric["values"])
            time.sleep(0.1)
        assert seen is not None, "no metric point reached the database while the run was RUNNING"
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()


def test_a_run_inside_an_airflow_task_is_tagged_with_its_dag_run(test_project_env, monkeypatch):
    settings, database = test_project_env.settings, test_project_env.database
    outside = execute(settings, prepare_run(settings, "slow", assignments=["steps=1"]))
    airflow_sets = {"DAG_ID": "nightly", "DAG_RUN_ID": "scheduled__2026-11-23", "TASK_ID": "tune", "TRY_NUMBER": "2"}
    for name, value in airflow_sets.items():
        monkeypatch.setenv(f"AIRFLOW_CTX_{name}", value)
    inside = execute(settings, prepare_run(settings, "slow", assignments=["steps=1"]))
    run = database.runs.find_one({"_id": inside.run_id})
    assert run["info"]["airflow"] == {
        "dag_id": "nightly",
        "run_id": "scheduled__2026-11-23",
        "task_id": "tune",
        "try_number": "2",
    }
    assert run["omniboard"]["tags"] == ["dag:nightly", "dag_run:scheduled__2026-11-23"]
    untagged = database.runs.find_one({"_id": outside.run_id})
    assert "airflow" not in untagged["info"] and "omniboard" not in untagged


@pytest.mark.parametrize("deleted", [False, True], ids=["in place", "document gone meanwhile"])
def test_the_final_save_sends_what_changed_and_restores_a_missing_document(test_project_env, deleted):
    """The final save sets the fields changed since the last write; the others only if the document is gone."""
    from sacred import Experiment

    from tunelab.tracking.observers import mongo_observer

    runs = test_project_env.database.runs
    ex = Experiment("final_save", save_git_info=False)
    observer = mongo_observer(test_project_env.settings)
    ex.observers.append(observer)

    @ex.main
    def main(_run):
        observer.replace_config({"x": 2})
        if deleted:
            runs.delete_one({"_id": _run._id})
        return 7

    run = ex.run()
    doc = runs.find_one({"_id": run._id})
    assert (doc["status"], doc["result"], doc["config"]) == ("COMPLETED", 7, {"x": 2})
    assert doc["experiment"]["name"] == "final_save" and doc["host"]["hostname"]
    assert doc["start_time"] <= doc["stop_time"] and doc["heartbeat"] is not None
