"""Keras Tuner project directories, read without importing Keras Tuner (and TensorFlow).

``.tunelab/keras-tuner/<study>/`` holds Keras Tuner's own ``oracle.json`` and
``trial_*/trial.json`` plus tunelab's ``study.json`` (experiment, metric, direction).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunelab.settings import Settings
from tunelab.tuning.optuna_engine import TrialCounts
from tunelab.tuning.spec import SearchSpec

ENGINE = "keras-tuner"
STUDY_FILE = "study.json"
_COUNTED_AS = {"COMPLETED": "complete", "RUNNING": "running", "IDLE": "waiting"}


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
    """The saved ``trial.json`` of every trial in the project, by trial number."""
    files = sorted((projects_dir(settings) / study_name).glob("trial_*/trial.json"))
    return [json.loads(path.read_text()) for path in files]


def count_trials(settings: Settings, study_name: str) -> TrialCounts:
    states = [_COUNTED_AS.get(t["status"], "failed") for t in trial_files(settings, study_name)]
    return TrialCounts(**{state: states.count(state) for state in set(states)})
