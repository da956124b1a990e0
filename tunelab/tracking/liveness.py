"""No run stays RUNNING after its process is gone, and no final save is lost without a word.

:func:`sweep` is the one entry point (``tunelab runs --sweep``; ``batch`` and
``tune`` call it before they start): it lands the saves a run could not make
(:func:`recover_failed_saves`), then marks FAILED, with the reason, every
RUNNING run whose process is gone (:func:`dead_runs`).

A run's process is gone when its heartbeat is older than ``silent_for_s`` and,
if it ran on this host, its pid (``host.pid``, recorded by tunelab's observer,
or the claim's for a run taken from the queue) no longer names the process that
started it. A run from another host, or one
with no pid, is judged by its heartbeat alone, after ``REMOTE_SILENT_S`` at least.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import pickle
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pymongo.errors
from pymongo.collection import Collection
from pymongo.database import Database

from tunelab.tracking.run_ids import RUN_IDS

SILENT_S = 6.0  # Sacred beats every second (tunelab's BEAT_INTERVAL_S): six missed beats
REMOTE_SILENT_S = 60.0  # another host's process cannot be checked: wait longer
FAILED_SAVE_SUFFIX = ".pickle"
PARTIAL_SUFFIX = ".partial"  # a copy being written
PARTIAL_STALE_S = 60.0  # a partial copy this old was left by a process killed while writing it
IN_FLIGHT_REASON = "the process ended before its final save landed"  # a copy kept while the save travels
log = logging.getLogger(__name__)
# A run tunelab wrote (its observer records the pid; a queued run has its entry), unlike one of stock Sacred.
TUNELAB_RUN = {"$or": [{"host.pid": {"$exists": True}}, {"queue": {"$exists": True}}]}


@dataclass(frozen=True)
class SweepReport:
    landed: list[Any] = field(default_factory=list)  # runs whose failed final save now landed
    failed: dict[Any, str] = field(default_factory=dict)  # run id -> why it is now FAILED


def sweep(
    database: Database, failure_dir: Path | None = None, silent_for_s: float = SILENT_S, query: Mapping | None = None
) -> SweepReport:
    """Land or fail the saves kept in ``failure_dir``, then fail the dead RUNNING runs matching ``query``."""
    landed, unsaved = recover_failed_saves(database, failure_dir) if failure_dir else ([], {})
    fail_runs(database["runs"], unsaved, only_running=False)
    dead = dead_runs(database["runs"], silent_for_s, query)
    fail_runs(database["runs"], dead)
    return SweepReport(landed, {**unsaved, **dead})


def dead_runs(
    runs: Collection,
    silent_for_s: float = SILENT_S,
    query: Mapping | None = None,
    remote_silent_s: float = REMOTE_SILENT_S,
) -> dict[Any, str]:
    """RUNNING runs matching ``query`` whose process is gone (see the module docstring) -> the reason.

    A run claimed from the queue names its process in ``queue.claim`` (it has no
    ``host.pid`` until Sacred starts it); ``remote_silent_s`` is how long another
    host's run must be silent.
    """
    now = _now()
    cutoff = now - dt.timedelta(seconds=silent_for_s)
    silent = {
        **(query or {}),
        "status": "RUNNING",
        "$or": [{"heartbeat": {"$lt": cutoff}}, {"heartbeat": None, "start_time": {"$lt": cutoff}}],
    }
    here = socket.gethostname()
    dead = {}
    for run in runs.find(silent, {"host": 1, "heartbeat": 1, "start_time": 1, "queue.claim": 1}):
        hostname, pid, started = _process_of(run)
        silence = (now - (run.get("heartbeat") or run["start_time"])).total_seconds()
        if hostname == here and pid is not None:
            if alive(pid, started):
                continue
            dead[run["_id"]] = f"process {pid} on {here} is gone; last heartbeat {silence:.0f} s ago"
        elif silence > max(silent_for_s, remote_silent_s):
            dead[run["_id"]] = f"no heartbeat for {silence:.0f} s from {hostname or 'an unknown host'}"
    return dead


def _process_of(run: Mapping[str, Any]) -> tuple[str | None, int | None, dt.datetime]:
    """(host name, pid, when the process or run started) of a RUNNING run: its queue claim's, else Sacred's."""
    claim = (run.get("queue") or {}).get("claim")
    if claim:
        started = dt.datetime.fromtimestamp(claim["pid_started"], dt.UTC).replace(tzinfo=None)
        return claim["host"], claim["pid"], started
    host = run.get("host") or {}
    return host.get("hostname"), host.get("pid"), run["start_time"]


def fail_runs(runs: Collection, reasons: Mapping[Any, str], only_running: bool = True) -> None:
    """Mark each run of ``reasons`` FAILED with its reason as fail trace (if still RUNNING, by default)."""
    now = _now()
    for run_id, reason in reasons.items():
        match = {"_id": run_id, "status": "RUNNING"} if only_running else {"_id": run_id}
        runs.update_one(match, {"$set": {"status": "FAILED", "stop_time": now, "fail_trace": [reason]}})


def fail_dead_runs(runs: Collection, query: Mapping[str, Any], silent_for_s: float, reason: str) -> list[Any]:
    """Mark FAILED the RUNNING runs matching ``query`` with no heartbeat for ``silent_for_s`` (a
    search engine that knows their worker died); returns their ids."""
    cutoff = _now() - dt.timedelta(seconds=silent_for_s)
    silent = {**query, "status": "RUNNING", "$or": [{"heartbeat": {"$lt": cutoff}}, {"heartbeat": None}]}
    ids = [doc["_id"] for doc in runs.find(silent, {"_id": 1})]
    fail_runs(runs, dict.fromkeys(ids, reason))
    return ids


def keep_failed_save(failure_dir: Path, database: Database, run_entry: Mapping[str, Any], reason: str) -> Path:
    """Pickle a run whose final save could not land (or has not landed yet), for :func:`recover_failed_saves`.

    The file is fsync'd when this returns, and appears whole: a recovery
    running meanwhile never reads half of it. It names this process (a copy
    of a save in flight is this process's to land while it lives). OSError if
    it cannot be written.
    """
    failure_dir.mkdir(parents=True, exist_ok=True)
    path = failure_dir / f"{database.name}-{run_entry['_id']}-{_now():%Y%m%dT%H%M%S%f}{FAILED_SAVE_SUFFIX}"
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    record = {"database": database.name, "run_entry": dict(run_entry), "reason": reason, "owner": _this_process()}
    try:
        with open(partial, "wb") as out:
            pickle.dump(record, out)
            out.flush()
            os.fsync(out.fileno())
        partial.rename(path)
    except OSError:
        partial.unlink(missing_ok=True)
        raise
    return path


def recover_failed_saves(database: Database, failure_dir: Path) -> tuple[list[Any], dict[Any, str]]:
    """Save again each run kept for ``database``: ``(landed ids, {id: reason})`` for those that cannot land.

    A landed file is deleted; a run that cannot land (too large, unencodable) is
    returned with the reason, and its file kept as ``*.pickle.failed``. A file
    whose database does not answer stays for next time. A copy kept while its
    save was in flight is left to its process while that lives, and lands only
    on a run still RUNNING (or missing: a short run is inserted by its final
    save): a run judged meanwhile (FAILED, its trial retried) keeps that verdict.
    A copy lands only on a tunelab run: a stock Sacred run that took its id
    (the run was never inserted) is left alone, and the copy lands under the
    next free id.
    """
    landed: list[Any] = []
    failed: dict[Any, str] = {}
    if not failure_dir.is_dir():
        return landed, failed
    for partial in failure_dir.glob(f"*{PARTIAL_SUFFIX}"):  # a process killed while writing one
        with contextlib.suppress(OSError):
            if time.time() - partial.stat().st_mtime > PARTIAL_STALE_S:
                partial.unlink()
    for path in sorted(failure_dir.glob(f"*{FAILED_SAVE_SUFFIX}")):
        try:
            with open(path, "rb") as kept:
                record = pickle.load(kept)  # noqa: S301 - written by this module, in the user's own state dir
        except FileNotFoundError:  # landed by its own process meanwhile
            continue
        in_flight, owner = record["reason"] == IN_FLIGHT_REASON, record.get("owner")
        if record.get("database") != database.name or (in_flight and alive(owner["pid"], owner["started"])):
            continue
        entry = record["run_entry"]
        runs = database["runs"]
        query = {"_id": entry["_id"], **TUNELAB_RUN, **({"status": "RUNNING"} if in_flight else {})}
        try:
            try:
                runs.update_one(query, {"$set": entry}, upsert=True)
            except pymongo.errors.DuplicateKeyError:
                if runs.find_one({"_id": entry["_id"], **TUNELAB_RUN}, {"_id": 1}) is not None:
                    path.unlink(missing_ok=True)  # an in-flight copy of a run judged meanwhile
                    continue
                entry = {**entry, "_id": _insert_under_a_free_id(runs, entry)}
                log.warning("run %s: a stock Sacred run took its id; landed as run %s", path.name, entry["_id"])
        except pymongo.errors.ConnectionFailure:
            continue
        except pymongo.errors.PyMongoError as exc:  # too large, unencodable: trying again cannot help
            failed[entry["_id"]] = f"its final save failed ({record['reason']}) and cannot land: {exc}; kept in {path}"
            path.rename(path.with_name(path.name + ".failed"))
            continue
        landed.append(entry["_id"])
        path.unlink(missing_ok=True)
    return landed, failed


def _insert_under_a_free_id(runs: Collection, entry: Mapping[str, Any]) -> int:
    """Insert ``entry`` under an id this process reserved (:class:`~tunelab.tracking.run_ids.RunIds`), skipping
    ids that stock Sacred runs took; returns that id."""
    while True:
        run_id = RUN_IDS.take(runs)
        with contextlib.suppress(pymongo.errors.DuplicateKeyError):
            runs.insert_one({**entry, "_id": run_id})
            return run_id
        RUN_IDS.skip_taken(runs)


def _this_process() -> dict[str, Any]:
    """This process, as :func:`alive` checks it: pid and start time."""
    return _process(os.getpid())  # a forked child is another process


@functools.cache
def _process(pid: int) -> dict[str, Any]:
    created = psutil.Process(pid).create_time()
    return {"pid": pid, "started": dt.datetime.fromtimestamp(created, dt.UTC).replace(tzinfo=None)}


def alive(pid: int, started: dt.datetime) -> bool:
    """Whether ``pid`` is still the process that started at ``started`` (naive UTC): pids get reused."""
    try:
        process = psutil.Process(pid)
        created = dt.datetime.fromtimestamp(process.create_time(), dt.UTC).replace(tzinfo=None)
        zombie = process.status() == psutil.STATUS_ZOMBIE  # dead, not yet reaped by its parent
    except psutil.Error:
        return False
    return created <= started + dt.timedelta(seconds=1) and not zombie


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)  # Sacred stores naive UTC
