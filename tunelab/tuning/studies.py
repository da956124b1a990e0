"""Reading finished and running studies back: trial tables, best trials, exports.

Optuna studies come from their storage (they stay readable by ``optuna`` and
optuna-dashboard too); Keras Tuner studies from their project directory. Run
ids are the Sacred runs in the tracking database.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import optuna

from tunelab import db
from tunelab.errors import TunelabError
from tunelab.settings import Settings
from tunelab.tuning import keras_tuner_projects, optuna_engine
from tunelab.tuning.states import keras_tuner_state
from tunelab.tuning.storages import StudyStorage, open_storage


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING, WAITING
    values: list[float] | None
    params: dict[str, Any]
    run_id: Any = None
    duration_s: float | None = None


@dataclass(frozen=True)
class StudyReport:
    name: str
    engine: str
    experiment: str
    metrics: list[str]
    directions: list[str]
    trials: list[TrialRow] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        states = [t.state for t in self.trials]
        return {state: states.count(state) for state in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")}

    def ranked(self) -> list[TrialRow]:
        """Complete trials, best first by the first objective."""
        done = [t for t in self.trials if t.state == "COMPLETE" and t.values]
        return sorted(done, key=lambda t: t.values[0], reverse=self.directions[0] == "maximize")

    def best(self) -> TrialRow | None:
        ranked = self.ranked()
        return ranked[0] if ranked else None


def list_studies(settings: Settings, storage_url: str | None = None) -> list[StudyReport]:
    """Every Optuna study in the storage, then every Keras Tuner project."""
    storage = open_storage(settings, storage_url)
    names = optuna.get_all_study_names(storage.optuna)
    reports = [_optuna_report(settings, storage, name) for name in names]
    if storage_url is None:
        reports += [_keras_tuner_report(settings, name) for name in keras_tuner_projects.project_names(settings)]
    return reports


def load_study(settings: Settings, name: str, storage_url: str | None = None) -> StudyReport:
    """One study by name: the Optuna storage first, then the Keras Tuner projects."""
    storage = open_storage(settings, storage_url)
    if name in optuna.get_all_study_names(storage.optuna):
        return _optuna_report(settings, storage, name)
    if name in keras_tuner_projects.project_names(settings):
        return _keras_tuner_report(settings, name)
    known = [r.name for r in list_studies(settings, storage_url)]
    raise TunelabError(f"no study {name!r} in {storage} (known: {', '.join(known) or 'none'})")


def export(report: StudyReport, fmt: str) -> str:
    """The study's trials as ``csv`` (one column per param and metric) or ``json``."""
    if fmt == "json":
        return json.dumps({**asdict(report), "counts": report.counts()}, indent=2, default=str)
    params = sorted({name for t in report.trials for name in t.params})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["trial", "state", *report.metrics, *params, "run_id", "duration_s"])
    for t in report.trials:
        values = t.values or [None] * len(report.metrics)
        writer.writerow([t.number, t.state, *values, *(t.params.get(p) for p in params), t.run_id, t.duration_s])
    return out.getvalue()


def _optuna_report(settings: Settings, storage: StudyStorage, name: str) -> StudyReport:
    study = optuna.load_study(study_name=name, storage=storage.optuna)
    run_ids = optuna_engine.stored_run_ids(study)
    trials = [
        TrialRow(
            number=t.number,
            state=t.state.name,
            values=t.values,
            params=t.params,
            run_id=run_ids.get(t.number),
            duration_s=t.duration.total_seconds() if t.duration else None,
        )
        for t in study.get_trials(deepcopy=False)
    ]
    attrs = study.user_attrs
    return StudyReport(
        name=name,
        engine="optuna",
        experiment=attrs.get("experiment", "?"),
        metrics=attrs.get("metrics", [f"objective {i}" for i in range(len(study.directions))]),
        directions=[d.name.lower() for d in study.directions],
        trials=trials,
    )


def _keras_tuner_report(settings: Settings, name: str) -> StudyReport:
    about = keras_tuner_projects.read_study_file(settings, name)
    runs = (
        db.connect(settings)["runs"]
        .find(
            {"info.study": name, "info.engine": keras_tuner_projects.ENGINE},
            {"info.trial": 1, "start_time": 1, "stop_time": 1},
        )
        .sort("_id", 1)
    )
    by_trial = {run["info"]["trial"]: run for run in runs}  # a retried trial: its latest run
    trials = []
    for t in keras_tuner_projects.trial_files(settings, name):
        number = int(t["trial_id"])
        run = by_trial.get(number, {})
        duration = (run["stop_time"] - run["start_time"]).total_seconds() if run.get("stop_time") else None
        values = None if t.get("score") is None else [t["score"]]
        params = {k: v for k, v in t["hyperparameters"]["values"].items() if not k.startswith("tuner/")}
        trials.append(TrialRow(number, keras_tuner_state(t["status"]).name, values, params, run.get("_id"), duration))
    return StudyReport(
        name, keras_tuner_projects.ENGINE, about["experiment"], [about["metric"]], [about["direction"]], trials
    )
