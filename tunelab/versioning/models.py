"""A model registry in the run database: named models, each version pointing at the run that made it.

A version records the source run, its model artifact (the GridFS file, not a
copy), the run's metrics, data version and git commit, so a registered model
is traceable to its code and data. Versions of a name count 1, 2, 3… and are
never overwritten.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pymongo
from pymongo.database import Database

from tunelab import db
from tunelab.errors import TunelabError
from tunelab.settings import Settings
from tunelab.tracking.artifacts import completed_run
from tunelab.tracking.observers import COUNTERS

COLLECTION = "model_registry"
MODEL_SUFFIXES = (".joblib", ".keras", ".pkl")


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    run_id: int
    experiment: str
    artifact: str
    registered_at: dt.datetime
    metrics: dict[str, float] = field(default_factory=dict)
    data_version: str | None = None
    git_commit: str | None = None

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> ModelVersion:
        return cls(**{key: doc.get(key) for key in cls.__dataclass_fields__ if key in doc})


def register(settings: Settings, run_id: int, name: str, artifact: str | None = None) -> ModelVersion:
    """Record run ``run_id``'s model as the next version of ``name``.

    ``artifact`` defaults to the run's only model file (``*.joblib``, ``*.keras``).
    TunelabError if the run does not exist, is not COMPLETED or has no such artifact.
    """
    database = db.connect(settings)
    run = completed_run(database, run_id, {"experiment.name": 1, "artifacts": 1, "result": 1, "info": 1}, "registered")
    files = {a["name"]: a["file_id"] for a in run.get("artifacts", [])}
    if artifact is None:
        models = [n for n in files if n.endswith(MODEL_SUFFIXES)]
        if len(models) != 1:
            raise TunelabError(
                f"run {run_id} has {len(models)} model artifacts ({', '.join(models) or 'none'}): name one"
            )
        artifact = models[0]
    if artifact not in files:
        raise TunelabError(f"run {run_id} has no artifact {artifact!r} (it has: {', '.join(files) or 'none'})")
    info = run.get("info", {})
    metrics = {metric: values["last"] for metric, values in info.get("summary", {}).items()}
    if isinstance(run.get("result"), (int, float)):
        metrics["result"] = run["result"]
    version = ModelVersion(
        name=name,
        version=_next_version(database, name),
        run_id=run_id,
        experiment=run["experiment"]["name"],
        artifact=artifact,
        registered_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
        metrics=metrics,
        data_version=info.get("data_version"),
        git_commit=info.get("git_commit"),
    )
    document = {**version.__dict__, "_id": f"{name}:{version.version}", "file_id": files[artifact]}
    database[COLLECTION].insert_one(document)
    return version


def list_models(settings: Settings) -> list[ModelVersion]:
    """The latest version of every registered name, by name."""
    latest: dict[str, ModelVersion] = {}
    for doc in db.connect(settings)[COLLECTION].find({}):
        version = ModelVersion.from_document(doc)
        if version.name not in latest or version.version > latest[version.name].version:
            latest[version.name] = version
    return [latest[name] for name in sorted(latest)]


def model_versions(settings: Settings, name: str) -> list[ModelVersion]:
    """Every version of ``name``, oldest first; TunelabError if nothing is registered under it."""
    versions = [ModelVersion.from_document(d) for d in db.connect(settings)[COLLECTION].find({"name": name})]
    if not versions:
        known = ", ".join(v.name for v in list_models(settings)) or "none"
        raise TunelabError(f"no model named {name!r} is registered (known: {known})")
    return sorted(versions, key=lambda v: v.version)


def _next_version(database: Database, name: str) -> int:
    counter = database[COUNTERS].find_one_and_update(
        {"_id": f"model:{name}"}, {"$inc": {"seq": 1}}, upsert=True, return_document=pymongo.ReturnDocument.AFTER
    )
    return counter["seq"]
