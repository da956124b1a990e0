"""Reading finished runs and their artifacts back from the database (Sacred stores artifacts in GridFS)."""

from __future__ import annotations

from typing import Any

import gridfs
from pymongo.database import Database

from tunelab.errors import TunelabError


def read_artifact(database: Database, run_id: int, name: str) -> bytes:
    """The bytes of artifact ``name`` of run ``run_id`` (its latest copy); TunelabError if there is none."""
    run = database.runs.find_one({"_id": run_id}, {"artifacts": 1})
    if run is None:
        raise TunelabError(f"run {run_id} does not exist")
    file_ids = [a["file_id"] for a in run.get("artifacts", []) if a["name"] == name]
    if not file_ids:
        raise TunelabError(f"run {run_id} has no artifact {name!r}")
    return gridfs.GridFS(database).get(file_ids[-1]).read()


def completed_run(database: Database, run_id: int, fields: dict[str, Any], purpose: str) -> dict:
    """Run ``run_id`` with ``fields``; TunelabError if it does not exist or is not COMPLETED
    (``purpose`` finishes "only COMPLETED runs can be …")."""
    run = database.runs.find_one({"_id": run_id}, {**fields, "status": 1})
    if run is None:
        raise TunelabError(f"run {run_id} does not exist")
    if run["status"] != "COMPLETED":
        raise TunelabError(f"run {run_id} is {run['status']}: only COMPLETED runs can be {purpose}")
    return run
