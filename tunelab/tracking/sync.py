"""Uploading runs recorded offline (Sacred FileStorageObserver directories) to the database.

Each finished run is replayed through :class:`TunelabMongoObserver`, so it lands
in exactly the schema a live run has: run document, metrics, artifacts and
sources in GridFS. A run is identified by the ``uid`` in its info.

Before uploading a run, a sync claims its uid: it inserts the document
``{_id: uid}`` in ``CLAIMS``, which only one sync can do (a unique key). The
winner uploads (the run document carries ``info.uid`` from its insertion on),
then marks the claim ``done`` and the directory with a ``.synced`` file. A sync
that finds the uid claimed skips the run while the claimant's process lives;
if it is gone (killed mid-upload), the sync takes the claim over atomically,
removes what the broken-off upload left and uploads again. Running sync twice,
or two syncs at once, uploads nothing twice.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pymongo.errors
from pymongo.database import Database
from sacred.dependencies import get_digest

from tunelab.errors import TunelabError
from tunelab.tracking import liveness, metric_store
from tunelab.tracking.observers import TunelabMongoObserver

SYNCED_MARKER = ".synced"
CLAIMS = "tunelab.sync_claims"
STALE_CLAIM_S = 3600.0  # a claim from another host, whose process cannot be checked, is redone after this
FINAL_STATUSES = ("COMPLETED", "FAILED", "INTERRUPTED")


@dataclass(frozen=True)
class SyncReport:
    uploaded: dict[str, Any]  # offline run directory name -> new run id
    already_synced: list[str]
    skipped: dict[str, str]  # directory name -> why


class _ReplayObserver(TunelabMongoObserver):
    """Reads sources from the offline directory's ``_sources`` copies."""

    def __init__(self, database: Database, root: Path, failure_dir: str, uid: str) -> None:
        super().__init__(database.client, database.name, failure_dir, info={"uid": uid})
        self.root = root

    def source_files(self, ex_info):
        return [
            (name, str(self.root / stored), get_digest(str(self.root / stored))) for name, stored in ex_info["sources"]
        ]


def sync_offline_runs(database: Database, root: Path, failure_dir: str) -> SyncReport:
    """Upload every finished run under ``root`` that is not in the database yet."""
    if not root.is_dir():
        raise TunelabError(f"{root}: no such directory of offline runs")
    uploaded: dict[str, Any] = {}
    already: list[str] = []
    skipped: dict[str, str] = {}
    run_dirs = sorted((p for p in root.iterdir() if p.is_dir() and p.name != "_sources"), key=_numeric_first)
    for run_dir in run_dirs:
        if (run_dir / SYNCED_MARKER).exists():
            already.append(run_dir.name)
            continue
        try:
            record = _read_offline_run(run_dir)
        except (OSError, ValueError, KeyError) as exc:
            skipped[run_dir.name] = f"unreadable: {exc}"
            continue
        if record["run"]["status"] not in FINAL_STATUSES:
            skipped[run_dir.name] = f"status {record['run']['status']} (still running, or its process died)"
            continue
        uid = record["info"]["uid"]
        won, claim = _claim(database, uid)
        if not won and claim.get("state") == "done":
            (run_dir / SYNCED_MARKER).write_text(json.dumps({"run_id": claim["run_id"]}))
            already.append(run_dir.name)
            continue
        if not won:
            skipped[run_dir.name] = f"being uploaded by another sync (process {claim['pid']} on {claim['host']})"
            continue
        _remove_partial_upload(database, uid)
        run_id = _replay(_ReplayObserver(database, root, failure_dir, uid), run_dir, record)
        database[CLAIMS].update_one(
            {"_id": uid, "token": claim["token"]}, {"$set": {"state": "done", "run_id": run_id}}
        )
        (run_dir / SYNCED_MARKER).write_text(json.dumps({"run_id": run_id}))
        uploaded[run_dir.name] = run_id
    return SyncReport(uploaded, already, skipped)


def _numeric_first(path: Path) -> tuple[int, str]:
    return (int(path.name), "") if path.name.isdigit() else (10**12, path.name)


def _read_offline_run(run_dir: Path) -> dict[str, Any]:
    def read(name: str, default: Any = None) -> Any:
        path = run_dir / name
        if not path.exists() and default is not None:
            return default
        return json.loads(path.read_text())

    record = {
        "run": read("run.json"),
        "config": read("config.json"),
        "info": read("info.json", {}),
        "metrics": read("metrics.json", {}),
        "cout": (run_dir / "cout.txt").read_text() if (run_dir / "cout.txt").exists() else "",
    }
    if "uid" not in record["info"]:
        raise KeyError("info.json has no uid (not recorded by tunelab)")
    return record


def _claim(database: Database, uid: str) -> tuple[bool, dict[str, Any]]:
    """Claim the upload of run ``uid``: ``(True, our claim)`` if we won it (a new claim, or one whose
    claimant is gone), else ``(False, the standing claim)``."""
    claims = database[CLAIMS]
    ours = {
        "state": "uploading",
        "token": uuid.uuid4().hex,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "claimed_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
    }
    try:
        claims.insert_one({"_id": uid, **ours})
        return True, ours
    except pymongo.errors.DuplicateKeyError:
        standing = claims.find_one({"_id": uid}) or {}
    if standing.get("state") == "done" or _claimant_alive(standing):
        return False, standing
    taken = claims.find_one_and_update({"_id": uid, "token": standing.get("token")}, {"$set": ours})
    return taken is not None, ours if taken else standing


def _claimant_alive(claim: Mapping[str, Any]) -> bool:
    """Whether the sync that claimed an upload may still be at it (on another host: for a while)."""
    if claim.get("host") == socket.gethostname():
        return liveness.alive(claim["pid"], claim["claimed_at"])
    age = dt.datetime.now(dt.UTC).replace(tzinfo=None) - claim["claimed_at"]
    return age.total_seconds() < STALE_CLAIM_S


def _remove_partial_upload(database: Database, uid: str) -> None:
    """Delete what an earlier, broken-off upload of this run left behind."""
    for run in database["runs"].find({"info.uid": uid}, {"artifacts": 1}):
        database["metrics"].delete_many({"run_id": run["_id"]})
        database[metric_store.BUCKETS].delete_many({"run_id": run["_id"]})
        for artifact in run.get("artifacts", []):
            database["fs.chunks"].delete_many({"files_id": artifact["file_id"]})
            database["fs.files"].delete_one({"_id": artifact["file_id"]})
        database["runs"].delete_one({"_id": run["_id"]})


def _replay(observer: TunelabMongoObserver, run_dir: Path, record: Mapping[str, Any]) -> Any:
    run = record["run"]
    run_id = observer.started_event(
        ex_info=run["experiment"],
        command=run["command"],
        host_info=run["host"],
        start_time=_time(run["start_time"]),
        config=record["config"],
        meta_info=run["meta"],
        _id=None,
    )
    metrics = {
        name: {**series, "timestamps": [_time(t) for t in series["timestamps"]]}
        for name, series in record["metrics"].items()
    }
    info = dict(record["info"])
    if metrics:
        observer.log_metrics(metrics, info)
    for name in run.get("artifacts", []):
        observer.artifact_event(name, str(run_dir / name), content_type="application/octet-stream")
    observer.heartbeat_event(info, record["cout"], _time(run.get("heartbeat") or run["stop_time"]), run.get("result"))
    stop_time = _time(run["stop_time"])
    if run["status"] == "COMPLETED":
        observer.completed_event(stop_time, run.get("result"))
    elif run["status"] == "FAILED":
        observer.failed_event(stop_time, run.get("fail_trace"))
    else:
        observer.interrupted_event(stop_time, run["status"])
    return run_id


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)
