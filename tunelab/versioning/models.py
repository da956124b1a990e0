"""A model registry in the run database: named models, each version pointing at the run that made it.

A version records the source run, its model artifact (the GridFS file, not a
copy), the run's metrics, data version and git commit, so a registered model
is traceable to its code and data. Versions of a name count 1, 2, 3… and are
never overwritten.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import pymongo
from pymongo.database import Database

from tunelab import db
from tunelab.errors import TunelabError
from tunelab.settings import Settings
from tunelab.tracking.artifacts import completed_run, read_artifact
from tunelab.tracking.run_ids import COUNTERS

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
    artifact = _model_artifact(run_id, list(files), artifact)
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


def _model_artifact(run_id: int, names: list[str], artifact: str | None) -> str:
    """``artifact``, or the run's only model file (``*.joblib``, ``*.keras``); TunelabError if there is no such one."""
    if artifact is None:
        models = [n for n in names if n.endswith(MODEL_SUFFIXES)]
        if len(models) != 1:
            raise TunelabError(
                f"run {run_id} has {len(models)} model artifacts ({', '.join(models) or 'none'}): name one"
            )
        return models[0]
    if artifact not in names:
        raise TunelabError(f"run {run_id} has no artifact {artifact!r} (it has: {', '.join(names) or 'none'})")
    return artifact


def resolve(settings: Settings, ref: int | str) -> tuple[int, str]:
    """``(run id, model artifact)`` of ``ref``: a run id, or a registered ``name`` (latest) or ``name@version``."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        run_id = int(ref)
        run = completed_run(db.connect(settings), run_id, {"artifacts": 1}, "loaded")
        return run_id, _model_artifact(run_id, [a["name"] for a in run.get("artifacts", [])], None)
    name, _, version = ref.partition("@")
    versions = model_versions(settings, name)
    if not version:
        return versions[-1].run_id, versions[-1].artifact
    chosen = [v for v in versions if str(v.version) == version]
    if not chosen:
        known = ", ".join(str(v.version) for v in versions)
        raise TunelabError(f"model {name!r} has no version {version!r} (versions: {known})")
    return chosen[0].run_id, chosen[0].artifact


def load_model(settings: Settings, ref: int | str) -> Any:
    """The fitted model of ``ref`` (see :func:`resolve`), checked against its recorded sha256 before it is loaded.

    scikit-learn estimators and mlens ensembles come back from joblib, Keras models from ``*.keras``.
    """
    run_id, artifact = resolve(settings, ref)
    content = read_artifact(db.connect(settings), run_id, artifact, require_digest=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / artifact
        path.write_bytes(content)
        if artifact.endswith(".keras"):
            import keras  # TensorFlow: only for Keras models

            return keras.models.load_model(path)
        import tunelab.ensembling  # noqa: F401 - mlens ensembles unpickle only with its patches

        return joblib.load(path)


def _next_version(database: Database, name: str) -> int:
    counter = database[COUNTERS].find_one_and_update(
        {"_id": f"model:{name}"}, {"$inc": {"seq": 1}}, upsert=True, return_document=pymongo.ReturnDocument.AFTER
    )
    return counter["seq"]
