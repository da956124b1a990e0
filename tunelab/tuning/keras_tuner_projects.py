"""The Keras Tuner engine's side that does not import Keras Tuner (and TensorFlow).

Checks before a search, the worker's entry point, and the project directories:
``.tunelab/keras-tuner/<study>/`` holds Keras Tuner's own ``oracle.json`` and
``trial_*/trial.json`` plus tunelab's ``study.json`` (experiment, metric, direction).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunelab import db
from tunelab.errors import TunelabError
from tunelab.settings import Settings
from tunelab.tuning.optuna_engine import TrialCounts
from tunelab.tuning.spec import SearchSpec
from tunelab.tuning.states import keras_tuner_state

ENGINE = "keras-tuner"
STUDY_FILE = "study.json"


def check(settings: Settings, spec: SearchSpec, storage_url: str | None, workers: int) -> None:
    """What can be checked before the worker starts (without importing TensorFlow here)."""
    if storage_url is not None:
        raise TunelabError("--storage: keras-tuner studies live in .tunelab/keras-tuner/, not in an Optuna storage")
    if workers != 1:
        raise TunelabError("--workers: the keras-tuner engine runs one worker; use engine optuna for parallel workers")
    if spec.budget.timeout is not None:
        raise TunelabError(
            f"{spec.source}: key 'budget.timeout': the keras-tuner engine budgets by n_trials and max_epochs"
        )
    db.mongo_url(settings)


def run_search(settings: Settings, spec: SearchSpec) -> int:
    """Worker entry point: run (or resume) the search; returns how many trials it finished."""
    from tunelab.tuning.keras_tuner_engine import run_worker  # TensorFlow, in the worker only

    return run_worker(settings, spec)


def projects_dir(settings: Settings) -> Path:
    return settings.state_dir / "keras-tuner"


def project_names(settings: Settings) -> list[str]:
    return sorted(p.parent.name for p in projects_dir(settings).glob(f"*/{STUDY_FILE}"))


def write_study_file(settings: Settings, spec: SearchSpec) -> Path:
    project = projects_dir(settings) / spec.study_name
    project.mkdir(parents=True, exist_ok=True)
    about = {"experiment": spec.experiment, "metric": spec.metrics[0], "direction": spec.directions[0]}
    (project / STUDY_FILE).write_text(json.dumps(about))
    return project


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
