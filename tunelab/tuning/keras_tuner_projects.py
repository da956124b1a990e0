"""The Keras Tuner engine's side that does not import Keras Tuner (and TensorFlow).

:class:`KerasTunerSearch` (checks, the job, counts and the report) and the project directories:
``.tunelab/keras-tuner/<study>/`` holds Keras Tuner's own ``oracle.json`` and
``trial_*/trial.json`` plus tunelab's ``study.json`` (experiment, metric, direction).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunelab import db
from tunelab.errors import TunelabError
from tunelab.keras_tuner.distributed import parse_address
from tunelab.keras_tuner.spec import KerasTunerSpec
from tunelab.settings import Settings
from tunelab.tuning.engines import Job, SearchEngine, TrialCounts, job
from tunelab.tuning.reports import StudyReport, TrialRow
from tunelab.tuning.states import keras_tuner_state

ENGINE = "keras-tuner"
STUDY_FILE = "study.json"


class KerasTunerSearch(SearchEngine):
    """A Keras Tuner search (a JSON-space or a hypermodel spec), its project directory as its study.

    One process, or with ``workers`` > 1 a chief and that many tuners (Keras
    Tuner's distributed mode), the chief listening on ``oracle`` (``HOST[:PORT]``).
    """

    def __init__(
        self, settings: Settings, spec: KerasTunerSpec, storage_url: str | None, oracle: str = "127.0.0.1"
    ) -> None:
        self.settings = settings
        self.spec = spec
        self.storage_url = storage_url
        self.oracle = oracle
        self.address: tuple[str, int] | None = None
        self.study_name = spec.study_name
        self.n_trials = spec.n_trials

    def check(self, workers: int) -> None:
        """What can be checked before the worker starts (without importing TensorFlow here)."""
        if self.storage_url is not None:
            raise TunelabError("--storage: keras-tuner studies live in .tunelab/keras-tuner/, not in an Optuna storage")
        if self.spec.budget.timeout is not None:
            raise TunelabError(
                f"{self.spec.source}: key 'budget.timeout': the keras-tuner engine budgets by n_trials and max_epochs"
            )
        db.mongo_url(self.settings)
        self.address = parse_address(self.oracle) if workers > 1 else None

    def jobs(self, workers: int) -> list[Job]:
        """One job: the workers are Keras Tuner's, under that one chief process."""
        return [job(run_search, self.settings, self.spec, workers, self.address)]

    def counts(self) -> TrialCounts:
        return count_trials(self.settings, self.study_name)

    def report(self) -> StudyReport:
        return keras_tuner_report(self.settings, self.study_name)


def run_search(settings: Settings, spec: KerasTunerSpec, workers: int, address: tuple[str, int] | None) -> int:
    """Worker entry point: run (or resume) the search; returns how many trials it finished."""
    from tunelab.keras_tuner import cli_search  # TensorFlow, in the worker only
    from tunelab.tracking import worker_process

    finished = cli_search.run_search(settings, spec, workers, address)
    worker_process.end_process_at_exit()  # the search is recorded: spare the parent TensorFlow's teardown
    return finished


def projects_dir(settings: Settings) -> Path:
    return settings.state_dir / "keras-tuner"


def project_names(settings: Settings) -> list[str]:
    return sorted(p.parent.name for p in projects_dir(settings).glob(f"*/{STUDY_FILE}"))


def read_study_file(settings: Settings, study_name: str) -> dict[str, str]:
    return json.loads((projects_dir(settings) / study_name / STUDY_FILE).read_text())


def trial_files(settings: Settings, study_name: str) -> list[dict[str, Any]]:
    """The saved ``trial.json`` of every trial in the project, by trial number.

    A file Keras Tuner is writing right now (empty or cut short) is left out.
    """
    trials = []
    for path in sorted((projects_dir(settings) / study_name).glob("trial_*/trial.json")):
        try:
            trials.append(json.loads(path.read_text()))
        except json.JSONDecodeError:
            continue
    return trials


def count_trials(settings: Settings, study_name: str) -> TrialCounts:
    return TrialCounts.of(keras_tuner_state(t["status"]) for t in trial_files(settings, study_name))


def keras_tuner_report(settings: Settings, name: str) -> StudyReport:
    """A project's trials (from Keras Tuner's files) with their latest Sacred runs."""
    about = read_study_file(settings, name)
    runs = (
        db.connect(settings)["runs"]
        .find({"info.study": name, "info.engine": ENGINE}, {"info.trial": 1, "start_time": 1, "stop_time": 1})
        .sort([("start_time", 1), ("_id", 1)])  # ids follow start order only within a process
    )
    by_trial = {run["info"]["trial"]: run for run in runs}  # a retried trial: its latest run
    trials = []
    for t in trial_files(settings, name):
        number = int(t["trial_id"])
        run = by_trial.get(number, {})
        duration = (run["stop_time"] - run["start_time"]).total_seconds() if run.get("stop_time") else None
        values = None if t.get("score") is None else [t["score"]]
        params = {k: v for k, v in t["hyperparameters"]["values"].items() if not k.startswith("tuner/")}
        trials.append(TrialRow(number, keras_tuner_state(t["status"]).name, values, params, run.get("_id"), duration))
    return StudyReport(name, ENGINE, about["experiment"], [about["metric"]], [about["direction"]], trials)


def stored_studies(settings: Settings, storage_url: str | None) -> dict[str, Callable[[], StudyReport]]:
    """Every Keras Tuner project, by name, with how to read its report (none when a storage is named)."""
    if storage_url is not None:
        return {}
    return {name: lambda name=name: keras_tuner_report(settings, name) for name in project_names(settings)}
