"""Reading finished and running studies back: trial tables, best trials, exports.

Optuna studies come from their storage (they stay readable by ``optuna`` and
optuna-dashboard too); Keras Tuner studies from their project directory. Run
ids are the Sacred runs in the tracking database.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import asdict

from tunelab.errors import TunelabError
from tunelab.settings import Settings
from tunelab.tuning import keras_tuner_projects, optuna_engine
from tunelab.tuning.reports import StudyReport, TrialRow
from tunelab.tuning.storages import open_storage

__all__ = ["StudyReport", "TrialRow", "export", "list_studies", "load_study"]


_LOCATIONS = (optuna_engine.stored_studies, keras_tuner_projects.stored_studies)


def _stored(settings: Settings, storage_url: str | None) -> dict[str, Callable[[], StudyReport]]:
    """Every study by name, with how to read it: the Optuna storage's first, then Keras Tuner's projects."""
    found: dict[str, Callable[[], StudyReport]] = {}
    for location in _LOCATIONS:
        for name, read in location(settings, storage_url).items():
            found.setdefault(name, read)
    return found


def list_studies(settings: Settings, storage_url: str | None = None) -> list[StudyReport]:
    """Every Optuna study in the storage, then every Keras Tuner project (only when no storage is named)."""
    return [read() for read in _stored(settings, storage_url).values()]


def load_study(settings: Settings, name: str, storage_url: str | None = None) -> StudyReport:
    """One study by name: the Optuna storage first, then the Keras Tuner projects."""
    stored = _stored(settings, storage_url)
    if name not in stored:
        where = open_storage(settings, storage_url)
        raise TunelabError(f"no study {name!r} in {where} (known: {', '.join(stored) or 'none'})")
    return stored[name]()


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
