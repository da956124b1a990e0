"""A run queue in the database: QUEUED runs that workers on any machine claim atomically.

A queued run is Sacred's own QUEUED document (``experiment``, ``command``,
``host``, ``config``, ``meta``, ``status``), written by Sacred's queued-run flow,
plus a ``queue`` field tunelab reads:

* ``batch``, ``key`` (the request's :attr:`~tunelab.tracking.runner.RunRequest.key` and
  which copy of that config in the batch: ``KEY#n``),
  ``experiment``, ``config_file`` (for display), ``config`` (validated, complete),
  ``info``, ``queued_at``;
* ``git_commit`` and ``data_version``: the code and data it was enqueued at;
* ``attempts``, ``claim`` (``host``, ``pid``, ``pid_started``, ``at``) and
  ``lost`` (why earlier attempts were given up).

One ``find_one_and_update`` takes a run from QUEUED to RUNNING (with host, pid
and heartbeat); the claimer then runs it as that same id (Sacred's observer
``overwrite``), so Omniboard shows one run going from QUEUED to its end.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import subprocess
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil
import pymongo
from pymongo.collection import Collection
from pymongo.database import Database

from tunelab.errors import TunelabError
from tunelab.settings import Settings
from tunelab.tracking.observers import mongo_observer
from tunelab.tracking.registry import load_experiment
from tunelab.tracking.runner import RunOutcome, RunRequest, execute

ACTIVE = ("QUEUED", "RUNNING")


@dataclass(frozen=True)
class CodeVersion:
    """The git commit and the data a checkout would run with (None: not a git repository / no data)."""

    git_commit: str | None
    data_version: str | None


@dataclass(frozen=True)
class Selector:
    """Which queued runs a worker takes: a batch, an experiment, and whether any code version will do."""

    batch: str | None = None
    experiment: str | None = None
    any_version: bool = False

    def query(self) -> dict[str, Any]:
        query: dict[str, Any] = {"status": "QUEUED", "queue.batch": {"$exists": True}}
        if self.batch:
            query["queue.batch"] = self.batch
        if self.experiment:
            query["queue.experiment"] = self.experiment
        return query


@dataclass
class BatchCounts:
    batch: str
    queued: int = 0
    running: list[str] = field(default_factory=list)  # "host pid N" of each running run
    completed: int = 0
    failed: int = 0  # FAILED, INTERRUPTED and the like


def code_version(settings: Settings) -> CodeVersion:
    """The project's HEAD commit and a digest of the md5 of every data file under ``data_dir``."""
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=settings.project_dir, capture_output=True, text=True, check=False
    )
    files = sorted(settings.data_dir.glob("*.npy")) if settings.data_dir.is_dir() else []
    digest = hashlib.md5()
    for path in files:
        digest.update(f"{path.name} {hashlib.md5(path.read_bytes()).hexdigest()}\n".encode())
    return CodeVersion(head.stdout.strip() if head.returncode == 0 else None, digest.hexdigest() if files else None)


def new_batch_id() -> str:
    return f"{_now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"


def enqueue(
    settings: Settings, database: Database, requests: Sequence[RunRequest], batch: str, version: CodeVersion
) -> list[int | None]:
    """Record each request as a QUEUED run of ``batch``; returns the run ids in request order.

    The n-th request of one config is the work ``KEY#n`` (a batch may ask for a
    config several times). Work already QUEUED or RUNNING is not queued again
    (its id is None): the run that has it will do. Nothing runs here.
    """
    copies: Counter[str] = Counter()
    keys = []
    for request in requests:
        keys.append(f"{request.key}#{copies[request.key]}")
        copies[request.key] += 1
    runs = database["runs"]
    busy = runs.find({"status": {"$in": ACTIVE}, "queue.key": {"$in": keys}}, {"queue.key": 1})
    taken = {doc["queue"]["key"] for doc in busy}
    return [
        None if key in taken else _enqueue_one(settings, runs, r, key, batch, version)
        for r, key in zip(requests, keys, strict=True)
    ]


def _enqueue_one(
    settings: Settings, runs: Collection, request: RunRequest, key: str, batch: str, version: CodeVersion
) -> int:
    ex = load_experiment(settings.experiments_dir, request.experiment)
    observer = mongo_observer(settings)
    ex.observers.append(observer)
    info = {**request.info, "batch_key": request.key, "batch": batch}
    try:  # Sacred's queued-run flow validates the config and writes its QUEUED document
        run = ex.run(config_updates=dict(request.config), info=info, options={"--queue": True})
    finally:
        ex.observers.remove(observer)
    entry = {
        "batch": batch,
        "key": key,
        "experiment": request.experiment,
        "config_file": request.config_file,
        "config": dict(request.config),
        "info": info,
        "queued_at": _now(),
        "git_commit": version.git_commit,
        "data_version": version.data_version,
        "attempts": 0,
    }
    runs.update_one({"_id": run._id}, {"$set": {"queue": entry, "info": info}})
    return run._id


def claim(database: Database, selector: Selector, version: CodeVersion) -> dict[str, Any] | None:
    """Atomically take the oldest matching QUEUED run at ``version`` (any version if the selector says so).

    Returns the claimed document (now RUNNING, with this host, pid and a
    heartbeat), or None when there is nothing to take. A claimed run whose
    config another run already has (queued earlier, running, or completed since
    this one was queued: two batches raced) is deleted and the next one is taken.
    """
    runs = database["runs"]
    query = selector.query()
    if not selector.any_version:
        query.update({"queue.git_commit": version.git_commit, "queue.data_version": version.data_version})
    process = psutil.Process()
    while True:
        now = _now()
        doc = runs.find_one_and_update(
            query,
            {
                "$set": {
                    "status": "RUNNING",
                    "heartbeat": now,
                    "queue.claim": {
                        "host": socket.gethostname(),
                        "pid": process.pid,
                        "pid_started": process.create_time(),
                        "at": now,
                    },
                },
                "$inc": {"queue.attempts": 1},
            },
            sort=[("_id", pymongo.ASCENDING)],
            return_document=pymongo.ReturnDocument.AFTER,
        )
        if doc is None or not _superseded(runs, doc):
            return doc
        runs.delete_one({"_id": doc["_id"], "status": "RUNNING"})


def _superseded(runs: Collection, doc: Mapping[str, Any]) -> bool:
    """Whether another run has this config: queued or running under a smaller id, or completed after
    this one was queued. The smallest id wins, so of two claimers of the same config exactly one runs it."""
    entry = doc["queue"]
    for other in runs.find({"queue.key": entry["key"]}, {"status": 1, "stop_time": 1}):  # one indexed lookup
        if other["_id"] == doc["_id"]:
            continue
        if other["status"] in ACTIVE and other["_id"] < doc["_id"]:
            return True
        if other["status"] == "COMPLETED" and (other.get("stop_time") or entry["queued_at"]) >= entry["queued_at"]:
            return True
    return False


def run_claimed(settings: Settings, doc: Mapping[str, Any]) -> RunOutcome:
    """Run a claimed document as that same run id; Sacred turns the QUEUED document into the run."""
    entry = doc["queue"]
    request = RunRequest(entry["experiment"], entry["config_file"], entry["config"], entry["config"], entry["info"])
    return execute(settings, request, queued_run=doc)


def give_back_unstarted(database: Database, doc: Mapping[str, Any], failure: str | None = None) -> None:
    """For a claimed run Sacred never started: back to QUEUED (Ctrl-C came first), or FAILED with
    ``failure`` (its config or experiment cannot run here). Does nothing once the run has started."""
    unstarted = {"_id": doc["_id"], "status": "RUNNING", "queue.claim": doc["queue"]["claim"], "start_time": None}
    if failure is None:
        update = {
            "$set": {"status": "QUEUED"},
            "$unset": {"heartbeat": "", "queue.claim": ""},
            "$inc": {"queue.attempts": -1},
        }
    else:
        update = {"$set": {"status": "FAILED", "stop_time": _now(), "fail_trace": [failure]}}
    database["runs"].update_one(unstarted, update)


def refused(database: Database, selector: Selector, version: CodeVersion) -> str | None:
    """One line naming the queued runs this checkout will not run (other code or data), or None."""
    if selector.any_version:
        return None
    other = {
        **selector.query(),
        "$or": [
            {"queue.git_commit": {"$ne": version.git_commit}},
            {"queue.data_version": {"$ne": version.data_version}},
        ],
    }
    docs = list(runs_of(database, other, {"queue.git_commit": 1, "queue.data_version": 1}))
    if not docs:
        return None
    first = docs[0]["queue"]
    what = (
        f"commit {_short(first['git_commit'])} (this checkout: {_short(version.git_commit)})"
        if first["git_commit"] != version.git_commit
        else f"data {_short(first['data_version'])} (this checkout: {_short(version.data_version)})"
    )
    return f"refused {len(docs)} queued run(s) enqueued at {what}; check that out or pass --any-commit"


def runs_of(database: Database, query: Mapping[str, Any], projection: Mapping[str, Any]) -> pymongo.cursor.Cursor:
    return database["runs"].find(dict(query), dict(projection))


def release_lost_claims(database: Database, expiry_s: float, retries: int) -> tuple[list[int], list[int]]:
    """Give back the claimed runs whose worker is gone; returns (re-queued ids, failed ids).

    A claimed run is lost when it has had no heartbeat for ``expiry_s`` (Sacred
    beats every second) and, if it was claimed on this host, its process is gone
    (so a run whose first attempt is alive is never run again). It goes back to
    QUEUED while it has been attempted at most ``retries`` + 1 times, otherwise
    it becomes FAILED with the reason.
    """
    runs = database["runs"]
    now = _now()
    cutoff = now - dt.timedelta(seconds=expiry_s)
    silent = {
        "status": "RUNNING",
        "queue.claim": {"$exists": True},
        "$or": [{"heartbeat": {"$lt": cutoff}}, {"heartbeat": None, "start_time": {"$lt": cutoff}}],
    }
    requeued, failed = [], []
    for doc in runs.find(silent, {"queue": 1, "heartbeat": 1, "start_time": 1}):
        claim_ = doc["queue"]["claim"]
        if _claim_alive(claim_):
            continue
        last = doc.get("heartbeat") or doc.get("start_time")
        reason = (
            f"lost worker: {claim_['host']} pid {claim_['pid']} sent no heartbeat since {last:%Y-%m-%d %H:%M:%S} UTC"
        )
        still = {"_id": doc["_id"], "status": "RUNNING", "queue.claim": claim_, "heartbeat": doc.get("heartbeat")}
        if doc["queue"]["attempts"] <= retries:
            update = {
                "$set": {"status": "QUEUED", "info": doc["queue"]["info"], "captured_out": ""},
                "$unset": {"heartbeat": "", "start_time": "", "queue.claim": "", "result": ""},
                "$push": {"queue.lost": reason},
            }
            if runs.update_one(still, update).modified_count:
                database["metrics"].delete_many({"run_id": doc["_id"]})  # the retry logs its own
                requeued.append(doc["_id"])
        else:
            update = {
                "$set": {"status": "FAILED", "stop_time": now, "fail_trace": [reason]},
                "$push": {"queue.lost": reason},
            }
            if runs.update_one(still, update).modified_count:
                failed.append(doc["_id"])
    return requeued, failed


def _claim_alive(claim_: Mapping[str, Any]) -> bool:
    """Whether the claiming process still lives; only knowable on its own host (elsewhere: False)."""
    if claim_["host"] != socket.gethostname():
        return False
    try:
        process = psutil.Process(claim_["pid"])
        return abs(process.create_time() - claim_["pid_started"]) < 1 and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def known_batch(database: Database, batch: str | None) -> None:
    """Raise TunelabError unless ``batch`` is None or some run belongs to it."""
    if batch is None or database["runs"].find_one({"queue.batch": batch}, {"_id": 1}):
        return
    known = sorted(database["runs"].distinct("queue.batch"))[-5:]
    raise TunelabError(f"unknown batch id {batch!r} (latest: {', '.join(known) or 'none'})")


def batch_counts(database: Database, batch: str | None = None) -> list[BatchCounts]:
    """Per batch (oldest first): queued, running (where), completed and failed runs."""
    query = {"queue.batch": batch} if batch else {"queue.batch": {"$exists": True}}
    counts: dict[str, BatchCounts] = {}
    for doc in database["runs"].find(query, {"status": 1, "queue.batch": 1, "queue.claim": 1}).sort("_id", 1):
        name = doc["queue"]["batch"]
        entry = counts.setdefault(name, BatchCounts(name))
        status = doc["status"]
        if status == "QUEUED":
            entry.queued += 1
        elif status == "RUNNING":
            claim_ = doc["queue"].get("claim", {})
            entry.running.append(f"{claim_.get('host')} pid {claim_.get('pid')}")
        elif status == "COMPLETED":
            entry.completed += 1
        else:
            entry.failed += 1
    return list(counts.values())


def cancel(database: Database, batch: str | None = None) -> int:
    """Delete the QUEUED runs (of ``batch``, or all); returns how many. Running runs are left alone."""
    query: dict[str, Any] = {"status": "QUEUED", "queue.batch": batch or {"$exists": True}}
    return database["runs"].delete_many(query).deleted_count


def _short(value: str | None) -> str:
    return value[:12] if value else "none"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)  # Sacred stores naive UTC
