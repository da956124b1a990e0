"""Run artifacts: storing a fitted model, and reading artifacts back (Sacred keeps them in GridFS).

tunelab's observer records each artifact's sha256 when it is saved;
:func:`read_artifact` checks it, so no reader unpickles a file changed since.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gridfs
import joblib
from pymongo.database import Database

from tunelab.errors import TunelabError


def save_model(add_artifact: Callable[..., None], model: Any, name: str = "model.joblib") -> None:
    """Store a fitted model with ``add_artifact(path, name=…)`` (a Sacred run's): Keras models as ``*.keras``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        if hasattr(model, "save") and name.endswith(".keras"):
            model.save(path)
        else:
            joblib.dump(model, path)
        add_artifact(str(path), name=name, content_type="application/octet-stream")


def read_artifact(database: Database, run_id: int, name: str, require_digest: bool = False) -> bytes:
    """The bytes of artifact ``name`` of run ``run_id`` (its latest copy).

    TunelabError if there is none, or if its bytes do not match the sha256
    recorded when it was saved (or none was recorded and ``require_digest``).
    """
    run = database.runs.find_one({"_id": run_id}, {"artifacts": 1})
    if run is None:
        raise TunelabError(f"run {run_id} does not exist")
    entries = [a for a in run.get("artifacts", []) if a["name"] == name]
    if not entries:
        raise TunelabError(f"run {run_id} has no artifact {name!r}")
    content = gridfs.GridFS(database).get(entries[-1]["file_id"]).read()
    recorded = entries[-1].get("sha256")
    if recorded is None and require_digest:
        raise TunelabError(f"run {run_id}: artifact {name!r} has no recorded sha256 (saved before tunelab kept one)")
    if recorded is not None and hashlib.sha256(content).hexdigest() != recorded:
        raise TunelabError(f"run {run_id}: artifact {name!r} does not match its recorded sha256; refusing to load it")
    return content


def completed_run(database: Database, run_id: int, fields: dict[str, Any], purpose: str) -> dict:
    """Run ``run_id`` with ``fields``; TunelabError if it does not exist or is not COMPLETED
    (``purpose`` finishes "only COMPLETED runs can be …")."""
    run = database.runs.find_one({"_id": run_id}, {**fields, "status": 1})
    if run is None:
        raise TunelabError(f"run {run_id} does not exist")
    if run["status"] != "COMPLETED":
        raise TunelabError(f"run {run_id} is {run['status']}: only COMPLETED runs can be {purpose}")
    return run
