"""A run queue in the database: QUEUED runs that workers on any machine claim atomically.

A queued run is Sacred's own QUEUED document (``experiment``, ``command``,
``host``, ``config``, ``meta``, ``status``), written by Sacred's queued-run flow,
plus ``info`` and a ``queue`` field tunelab reads, both in its insert:

* ``batch``, ``key`` (the request's :attr:`~tunelab.tracking.runner.RunRequest.key` and
  which copy of that config in the batch: ``KEY#n``),
  ``experiment``, ``config_file`` (for display), ``config`` (validated, complete),
  ``info``, ``queued_at``;
* ``git_commit`` and ``data_version``: the code and data it was enqueued at;
* ``attempts``, ``claim`` (``host``, ``pid``, ``pid_started``, ``at``) and
  ``lost`` (why earlier attempts were given up).

One conditional update takes a run from QUEUED to RUNNING (with host, pid and
heartbeat); the claimer then runs it as that same id (Sacred's observer
``overwrite``), so Omniboard shows one run going from QUEUED to its end. The
database holds at most one QUEUED or RUNNING run per ``key`` (a unique partial
index, :data:`~tunelab.tracking.observers.ACTIVE_QUEUE_KEY`): of two enqueues
that both found a key free, the second insert is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import socket
import subprocess
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil
import pymongo
from pymongo.database import Database

from tunelab.errors import TunelabError
from tunelab.settings import Settings
from tunelab.tracking import liveness
from tunelab.tracking.observers import QueuedElsewhere, ensure_indexes, mongo_observer
from tunelab.tracking.registry import load_experiment
from tunelab.tracking.runner import RunOutcome, RunRequest, execute

ACTIVE = ("QUEUED", "RUNNING")
# What a run gains once Sacred has started it, which a QUEUED document lacks: left out of the claim's read.
STARTED_FIELDS = ("captured_out", "result", "fail_trace", "artifacts", "resources")


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
        None if key in taken else _enqueue_one(settings, r, key, batch, version)
        for r, key in zip(requests, keys, strict=True)
    ]


def _enqueue_one(settings: Settings, request: RunRequest, key: str, batch: str, version: CodeVersion) -> int | None:
    """Insert one QUEUED run, its queue entry and info in the insert itself: enqueuers and claimers that
    look runs up by ``queue.key`` never see it without one. None: the database refused it, as the key is
    QUEUED or RUNNING in another run (:data:`~tunelab.tracking.observers.ACTIVE_QUEUE_KEY`)."""
    info = {**request.info, "batch_key": request.key, "batch": batch}
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
    ex = load_experiment(settings.experiments_dir, request.experiment)
    observer = mongo_observer(settings, info, queue_entry=entry)
    ex.observers.append(observer)
    try:  # Sacred's queued-run flow validates the config; the observer inserts the QUEUED document
        run = ex.run(config_updates=dict(request.config), info=info, options={"--queue": True})
    except QueuedElsewhere:  # another enqueue, which also found the key free, inserted it first
        return None
    finally:
        ex.observers.remove(observer)
    return run._id


class Claimer:
    """Takes the QUEUED runs a selector picks at a code version (any version if the selector says so), atomically.

    SecantusDB's ``findAndModify`` checks its write with a scan of the whole
    collection (tens of ms once a database holds a few thousand runs), so a
    claim is a conditional ``update_one`` by id (QUEUED→RUNNING: of two
    claimers exactly one matches) and one read of the run by id. Where the
    database cannot refuse a second active run of a config (an older database
    holding such runs: :func:`~tunelab.tracking.observers.ensure_indexes`),
    the read is by config key instead, and tells whether another run has that
    config (:func:`_superseded`).
    Candidate ids come from one query (its cost grows with the queue's length),
    kept until a claim misses or they run out; they are tried in a random
    order, so that concurrent claimers rarely try the same run. Runs therefore
    start in no particular order, and a run queued (or given back) meanwhile
    waits for the next query.
    """

    def __init__(self, database: Database, selector: Selector, version: CodeVersion) -> None:
        self._one_active_per_key = ensure_indexes(database)  # and the reads by status and by config key
        self.runs = database["runs"]
        self.query = selector.query()
        if not selector.any_version:
            self.query.update({"queue.git_commit": version.git_commit, "queue.data_version": version.data_version})
        self._candidates: list[tuple[int, str]] = []  # (run id, config key), tried from the end
        process = psutil.Process()
        self._process = {"host": socket.gethostname(), "pid": process.pid, "pid_started": process.create_time()}

    def claim(self) -> dict[str, Any] | None:
        """Take one run: its document, now RUNNING with this host, pid and a heartbeat; None when none is left.

        A claimed run whose config another run already has (queued earlier,
        running, or completed since this one was queued: two batches raced, on
        a database that could not refuse the second) is deleted and the next
        one is taken.
        """
        while True:
            if not self._candidates:
                self._refresh()
                if not self._candidates:
                    return None
            run_id, key = self._candidates.pop()
            now = _now()
            update = {
                "$set": {"status": "RUNNING", "heartbeat": now, "queue.claim": {**self._process, "at": now}},
                "$inc": {"queue.attempts": 1},
            }
            if not self.runs.update_one({"_id": run_id, "status": "QUEUED"}, update).modified_count:
                self._candidates.clear()  # another claimer was here first: the list is stale
                continue
            doc = self._read_claimed(run_id, key)
            if doc is not None:
                return doc

    def _read_claimed(self, run_id: int, key: str) -> dict[str, Any] | None:
        """The run just claimed, or None: deleted since the claim (cancelled, or superseded by another
        claimer), or superseded now (then deleted here)."""
        fields = dict.fromkeys(STARTED_FIELDS, 0)
        if self._one_active_per_key:
            return self.runs.find_one({"_id": run_id}, fields)
        same_key = list(self.runs.find({"queue.key": key}, fields))  # indexed
        doc = next((d for d in same_key if d["_id"] == run_id), None)
        if doc is None or not _superseded(doc, same_key):
            return doc
        self.runs.delete_one({"_id": run_id, "status": "RUNNING"})
        return None

    def _refresh(self) -> None:
        found = self.runs.find(self.query, {"queue.key": 1})
        self._candidates = [(doc["_id"], doc["queue"]["key"]) for doc in found]
        random.shuffle(self._candidates)


def _superseded(doc: Mapping[str, Any], same_key: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a run of ``same_key`` (the runs with ``doc``'s config key) has this config: queued or running
    under a smaller id, or completed after ``doc`` was queued. The smallest id wins, so of two claimers of
    the same config exactly one runs it."""
    entry = doc["queue"]
    for other in same_key:
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


def release_lost_claims(
    database: Database, expiry_s: float, retries: int, query: Mapping[str, Any] = {}
) -> tuple[list[int], list[int]]:
    """Give back the claimed runs (matching ``query``) whose worker is gone; returns (re-queued ids, failed ids).

    Whether a run is lost is :func:`tunelab.tracking.liveness.dead_runs`'s call
    (no heartbeat for ``expiry_s``, and its process gone if it ran on this host:
    a run whose first attempt is alive never runs again). A lost run goes back
    to QUEUED while it has been attempted at most ``retries`` + 1 times,
    otherwise it becomes FAILED with the reason.
    """
    runs = database["runs"]
    lost = liveness.dead_runs(runs, expiry_s, {"queue.claim": {"$exists": True}, **query}, remote_silent_s=expiry_s)
    cutoff = _now() - dt.timedelta(seconds=expiry_s)
    requeued, failed = [], []
    for doc in runs.find(
        {"_id": {"$in": list(lost)}, "status": "RUNNING"}, {"queue": 1, "heartbeat": 1, "start_time": 1}
    ):
        if (doc.get("heartbeat") or doc.get("start_time") or cutoff) >= cutoff:
            continue  # it beat since: alive after all (the update below re-checks that heartbeat)
        reason = f"lost worker: {lost[doc['_id']]}"
        still = {
            "_id": doc["_id"],
            "status": "RUNNING",
            "queue.claim": doc["queue"]["claim"],
            "heartbeat": doc.get("heartbeat"),
        }
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
                "$set": {"status": "FAILED", "stop_time": _now(), "fail_trace": [reason]},
                "$push": {"queue.lost": reason},
            }
            if runs.update_one(still, update).modified_count:
                failed.append(doc["_id"])
    return requeued, failed


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
