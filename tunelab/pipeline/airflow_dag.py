"""tunelab's pipeline as an Airflow DAG: the stages of ``dvc.yaml``, run by the functions of ``tunelab pipeline STAGE``.

prepare → choose (``tune.enabled``) → train | tune → stack → evaluate → transform, register → dashboard → dvc_commit

* ``make_dag(project_dir)`` builds it; a project's ``dags/tunelab_pipeline.py`` (written by ``tunelab init``)
  calls it with ``TUNELAB_PROJECT_DIR``, else the folder above that ``dags/``. Importing this module imports
  Airflow: only a DAG file does. Every task reads ``params.yaml`` when it starts and works in the project
  folder, as ``dvc repro`` does.
* ``choose`` is the branch: it returns the model stage to run, and runs the other one, which (as under DVC)
  only writes its "skipped" record and makes no runs; so every output of ``dvc.yaml`` is written.
* Candidate run ids and the selected model travel by XCom; the task receiving one checks that the files the
  stage functions read say the same.
* Every run a task makes is tagged with the DAG id and DAG run id (``info.airflow``, Omniboard tags
  ``dag:…`` and ``dag_run:…``): ``tunelab dashboard --query dag_run=RUN_ID`` shows one DAG run's runs.
* ``dvc_commit`` records the outputs in ``dvc.lock`` (``dvc commit``): after a DAG run ``dvc status`` is clean
  and ``dvc repro`` has nothing to do. The DAG refuses to load when ``dvc.yaml``'s stages differ from its tasks.
* A stage's user error fails its task with tunelab's one line (``error: …``). Each task is retried
  ``TUNELAB_AIRFLOW_RETRIES`` times (default 2), ``TUNELAB_AIRFLOW_RETRY_DELAY_S`` seconds apart (default 60).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from airflow.sdk import DAG, task

from tunelab.errors import TunelabError
from tunelab.pipeline import STAGE_NAMES
from tunelab.settings import Settings, load_settings

DAG_ID = "tunelab_pipeline"
PIPELINE_STAGES = STAGE_NAMES
# The command of each dvc.yaml stage; a task stands for each, and the DAG refuses to load if dvc.yaml says otherwise.
DVC_COMMANDS = {stage: f"tunelab pipeline {stage}" for stage in PIPELINE_STAGES}
DVC_COMMANDS["dashboard"] = "tunelab dashboard --out dashboards/site"
log = logging.getLogger("tunelab")


def stage_functions() -> ModuleType:
    """The module of ``STAGES``, ``load_params`` and ``read_candidates``, which ``tunelab pipeline STAGE`` runs.

    Imported when a task runs (it takes seconds), so that parsing the DAG stays quick.
    """
    from tunelab.pipeline import stages

    return stages


def check_dvc_stages(project_dir: Path) -> None:
    """TunelabError unless ``dvc.yaml`` has exactly the stages and commands of :data:`DVC_COMMANDS`."""
    path = project_dir / "dvc.yaml"
    try:
        stages = yaml.safe_load(path.read_text())["stages"]
        commands = {name: stage["cmd"] for name, stage in stages.items()}
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise TunelabError(f"{path}: cannot read the stages' commands ({type(exc).__name__}: {exc})") from None
    differ = sorted(
        name for name in commands.keys() | DVC_COMMANDS.keys() if commands.get(name) != DVC_COMMANDS.get(name)
    )
    if differ:
        raise TunelabError(f"{path}: stages {', '.join(differ)} differ from the tasks of {__name__}; update both")


@contextlib.contextmanager
def in_project(project_dir: Path) -> Iterator[Settings]:
    """The project's settings, with the project folder as the working folder (the stages read relative paths)."""
    settings = load_settings(project_dir)
    with contextlib.chdir(settings.project_dir):
        yield settings


def log_user_error(context: dict[str, Any]) -> None:
    """A TunelabError is the user's to fix: say it as ``tunelab`` does, in one line (``error: …``)."""
    if isinstance(exc := context.get("exception"), TunelabError):
        log.error("error: %s", exc)


def run_stage(project_dir: Path, stage: str) -> Any:
    """What ``tunelab pipeline STAGE`` does: the stage's function on ``params.yaml``."""
    from tunelab import db

    pipeline = stage_functions()
    with in_project(project_dir) as settings:
        params = pipeline.load_params(settings.project_dir)
        db.mongo_url(settings)  # starts the embedded database if needed
        return pipeline.STAGES[stage](settings, params)


def expect(received: Any, found: Any, where: str) -> None:
    """Fail the task if a stage's files disagree with what the upstream task passed along."""
    if received != found:
        raise TunelabError(f"{where}: {found!r}, but this DAG run passed along {received!r} (another run wrote it?)")


def make_dag(project_dir: Path) -> DAG:
    """The DAG running the pipeline of the project in ``project_dir``; TunelabError if its dvc.yaml differs."""
    check_dvc_stages(project_dir)
    with DAG(
        dag_id=DAG_ID,
        schedule=None,
        catchup=False,
        max_active_runs=1,  # the stages write the project's files
        default_args={
            "retries": int(os.environ.get("TUNELAB_AIRFLOW_RETRIES", "2")),
            "retry_delay": timedelta(seconds=float(os.environ.get("TUNELAB_AIRFLOW_RETRY_DELAY_S", "60"))),
            "on_retry_callback": log_user_error,
            "on_failure_callback": log_user_error,
        },
        tags=["tunelab"],
        doc_md=__doc__,
    ) as pipeline:
        _tasks(project_dir)
    return pipeline


def _tasks(project_dir: Path) -> None:
    """The tasks and their order, in the DAG being built."""

    @task
    def prepare() -> int:
        """The number of files written."""
        return len(run_stage(project_dir, "prepare"))

    @task.branch
    def choose() -> str:
        """``tune`` if ``tune.enabled``, else ``train``; the stage not taken writes its "skipped" record."""
        with in_project(project_dir) as settings:
            taken = stage_functions().load_params(settings.project_dir).model_stage
        run_stage(project_dir, "train" if taken == "tune" else "tune")
        return taken

    @task
    def train() -> list[int]:
        """The candidate run ids, best first."""
        return [candidate["run_id"] for candidate in run_stage(project_dir, "train")]

    @task
    def tune() -> list[int]:
        """The candidate run ids (the studies' best trials), best first."""
        return [candidate["run_id"] for candidate in run_stage(project_dir, "tune")]

    @task(trigger_rule="none_failed_min_one_success")  # after the branch taken
    def stack(ti=None) -> dict[str, Any]:
        """The stack run's record (``models/stack/model.json``)."""
        pipeline = stage_functions()
        with in_project(project_dir) as settings:
            model_stage = pipeline.load_params(settings.project_dir).model_stage
            on_file = [c["run_id"] for c in pipeline.read_candidates(settings, model_stage)]
        expect(ti.xcom_pull(task_ids=model_stage), on_file, f"models/{model_stage}/candidates.json")
        return run_stage(project_dir, "stack")

    @task
    def evaluate() -> dict[str, Any]:
        """The selected model: ``{"selected": "stack" | "best_single", "run_id": …}``."""
        metrics = run_stage(project_dir, "evaluate")
        return {"selected": metrics["selected"], "run_id": metrics[metrics["selected"]]["run_id"]}

    @task
    def transform() -> str:
        """The predictions file."""
        return str(run_stage(project_dir, "transform"))

    @task
    def register(selected: dict[str, Any]) -> dict[str, Any]:
        """The registered version: ``{"name", "version", "run_id"}``."""
        record = run_stage(project_dir, "register")
        expect(selected["run_id"], record["run_id"], "models/selected/model.json")
        return record

    @task
    def dashboard() -> None:
        """``tunelab dashboard --out dashboards/site``, as dvc.yaml runs it."""
        from tunelab.cli.dashboards import dashboard

        with in_project(project_dir) as settings:
            dashboard(out=settings.project_dir / "dashboards" / "site", query=None, where=[])

    @task
    def dvc_commit() -> None:
        """Record the outputs in dvc.lock, so that DVC agrees with what this DAG run made."""
        from dvc.repo import Repo

        with in_project(project_dir) as settings, Repo(str(settings.project_dir)) as repo:
            repo.commit(force=True)

    selected = evaluate()
    prepare() >> choose() >> [train(), tune()] >> stack() >> selected
    selected >> [transform(), register(selected) >> dashboard()] >> dvc_commit()
