"""`airflow dags test` of dags/tunelab_pipeline.py in a copy of the project: branches, tagged runs, a failing stage."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from tunelab.dashboards.query import run_filter

pytest.importorskip("airflow", reason="the airflow extra: pip install -e '.[airflow]' (scripts/setup --airflow)")

pytestmark = pytest.mark.slow
DAG_ID = "tunelab_pipeline"


@pytest.fixture
def airflow(project_clone, tmp_path):
    """Runs ``airflow`` in the clone with a throwaway AIRFLOW_HOME (SQLite metadata) whose DAGs are the clone's."""
    clone = project_clone
    clone.tunelab.env.update(
        {
            "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(clone.path / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "TUNELAB_AIRFLOW_RETRIES": "0",
            "TUNELAB_AIRFLOW_RETRY_DELAY_S": "0",
        }
    )
    clone.ok("airflow", "db", "migrate")

    def run(*args: str, timeout: float = 600):
        done = clone.run("airflow", *args, timeout=timeout)
        return done.returncode, done.stdout + done.stderr

    return run


def dag_run_id(output: str, state: str) -> str:
    """The run id of the DAG run ``airflow dags test`` reports finished in ``state``."""
    finished = re.search(rf"DagRun Finished: dag_id={DAG_ID}, .*?run_id=([^,]+), .*?state={state},", output)
    assert finished, output[-3000:]
    return finished[1]


def test_dag_runs_the_pipeline_down_each_branch_and_leaves_dvc_up_to_date(project_clone, airflow):
    clone, database = project_clone, project_clone.tunelab.database
    clone.set_params(tune={"n_trials": 2, "top": 1}, stack={"folds": 2})
    clone.commit("small budget")

    code, output = airflow("dags", "test", DAG_ID)
    assert code == 0, output[-3000:]
    tuned = dag_run_id(output, "success")
    assert "[DAG TEST] end task task_id=train" not in output  # the branch not taken

    # Every run is tagged with the DAG run, and the query shorthands find them.
    runs = list(database.runs.find({}, {"info": 1, "omniboard": 1, "status": 1, "experiment.name": 1}))
    assert len(runs) == 2 * 2 + 1  # two studies of two trials, one stack
    for run in runs:
        assert run["status"] == "COMPLETED"
        assert {k: run["info"]["airflow"][k] for k in ("dag_id", "run_id")} == {"dag_id": DAG_ID, "run_id": tuned}
        assert run["omniboard"]["tags"] == [f"dag:{DAG_ID}", f"dag_run:{tuned}"]
    assert database.runs.count_documents(run_filter([f"dag_run={tuned}", f"dag={DAG_ID}"])) == len(runs)
    assert database.runs.count_documents(run_filter([f"tag=dag_run:{tuned}"])) == len(runs)

    # What dvc repro writes, where it writes it; dvc.lock records it.
    metrics = json.loads((clone.path / "metrics.json").read_text())
    stack_run = database.runs.find_one({"experiment.name": "stack"})
    assert metrics["stack"]["run_id"] == stack_run["_id"] and stack_run["info"]["airflow"]["task_id"] == "stack"
    registered = json.loads((clone.path / "models" / "registered.json").read_text())
    assert registered["run_id"] == metrics[metrics["selected"]]["run_id"]
    assert (
        database.model_registry.find_one({"name": registered["name"], "version": 1})["run_id"] == registered["run_id"]
    )
    assert (clone.path / "predictions" / "batch.csv").is_file()
    assert (clone.path / "dashboards" / "site" / "index.html").is_file()
    assert json.loads((clone.path / "models" / "train" / "candidates.json").read_text()) == {
        "stage": "train",
        "candidates": [],
        "skipped": "tune.enabled is true",
    }
    assert "up to date" in clone.ok("dvc", "status")
    assert "Running stage" not in clone.ok("dvc", "repro")

    clone.set_params(tune={"enabled": False})
    clone.commit("the train branch")
    code, output = airflow("dags", "test", DAG_ID)
    assert code == 0, output[-3000:]
    trained = dag_run_id(output, "success")
    made = list(database.runs.find({"info.airflow.run_id": trained}, {"experiment.name": 1, "info.stage": 1}))
    assert sorted(r["experiment"]["name"] for r in made) == ["knn", "random_forest", "stack", "svm"]
    assert database.runs.count_documents({"info.airflow.run_id": trained, "info.stage": "train"}) == 3
    assert json.loads((clone.path / "models" / "tune" / "candidates.json").read_text())["candidates"] == []
    assert (clone.path / "plots" / "tune_history.csv").read_text().strip() == "study,trial,value,best"
    assert json.loads((clone.path / "metrics.json").read_text())["stack"]["run_id"] > metrics["stack"]["run_id"]
    assert "up to date" in clone.ok("dvc", "status")


def test_a_stage_with_bad_params_fails_its_task_with_one_line_and_retries(project_clone, airflow):
    clone = project_clone
    clone.set_params(tune={"n_trials": 0})
    clone.tunelab.env["TUNELAB_AIRFLOW_RETRIES"] = "1"
    code, output = airflow("dags", "test", DAG_ID)
    assert code != 0
    dag_run_id(output, "failed")
    line = (
        f"error: {clone.path / 'params.yaml'}: key 'tune.n_trials': Input should be greater than or equal to 1, got 0"
    )
    assert len(re.findall(rf"^\S+ \[error\s*\] {re.escape(line)} ", output, re.M)) == 2  # once a try
    states = re.findall(r"Task instance state updated .*new_state=(\w+)", output)
    assert states == ["up_for_retry", "failed"]
    assert output.count("[DAG TEST] starting task_id=prepare") == 2
    assert "starting task_id=choose" not in output
    assert clone.tunelab.database.runs.count_documents({}) == 0


def test_the_dag_refuses_to_load_when_dvc_yaml_has_other_stages(project_clone):
    clone = project_clone
    dvc_yaml = clone.path / "dvc.yaml"
    dvc_yaml.write_text(dvc_yaml.read_text().replace("cmd: tunelab pipeline stack", "cmd: tunelab stack"))
    done = clone.run(sys.executable, "-c", f"import runpy; runpy.run_path({str(Path('dags/tunelab_pipeline.py'))!r})")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        f"tunelab.errors.TunelabError: {dvc_yaml}: stages stack differ from the tasks of "
        "tunelab.pipeline.airflow_dag; update both"
    )
