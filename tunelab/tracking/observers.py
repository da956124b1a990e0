"""Sacred observers as tunelab configures them."""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Mapping
from typing import Any

import pymongo
from sacred.observers import FileStorageObserver, MongoObserver, RunObserver
from sacred.utils import ObserverError

from tunelab import db
from tunelab.board.columns import lower_is_better, register_columns, summary_key
from tunelab.settings import Settings

# Sacred flushes metrics and captured output on each heartbeat (its default is 10 s).
BEAT_INTERVAL_S = 1.0
COUNTERS = "tunelab.counters"
# Equality lookups tunelab, Sacred and Omniboard make; without an index SecantusDB scans.
INDEXES = {
    "metrics": [[("run_id", 1), ("name", 1)]],
    "runs": [[("info.study", 1), ("info.trial", 1)], [("status", 1)], [("queue.key", 1)]],  # the last two: claims
}


class TunelabMongoObserver(MongoObserver):
    """Sacred's MongoObserver, same schema, with four changes.

    * A new run's id takes one query (Sacred counts the runs, then finds the largest id).
    * Source files are stored once per content (pymongo 4 dropped GridFS md5,
      so the stock observer uploads every source again on every run); a
      process remembers the ones it has seen, which saves a query per source.
    * A run it cannot save is pickled to ``failure_dir`` instead of crashing.
    * At the end of a run, ``info.summary`` holds each metric's best, last, min
      and max value and step count, and ``info.git_commit`` the commit, so
      dashboards need no join over ``metrics``; Omniboard gets custom columns
      for them (:mod:`tunelab.board.columns`).
    """

    _columns_registered: set[tuple[int, str, str]] = set()  # (client id, db, metric), per process

    def __init__(
        self,
        client: pymongo.MongoClient,
        db_name: str,
        failure_dir: str,
        queued_run: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(client=client, db_name=db_name, failure_dir=failure_dir)
        self.overwrite = dict(queued_run) if queued_run is not None else None  # Sacred's queued-run flow
        self._summary: dict[str, dict[str, float]] = {}
        self._git_commit: str | None = None

    def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):
        self._summary = {}
        repositories = ex_info.get("repositories") or [{}]
        commit = repositories[0].get("commit")
        self._git_commit = commit and commit[:12] + ("-dirty" if repositories[0].get("dirty") else "")
        return super().started_event(ex_info, command, host_info, start_time, config, meta_info, _id)

    _stored_sources: dict[tuple[int, str, str, str], Any] = {}  # (client id, db, file, md5) -> GridFS id

    def insert(self) -> None:
        """Insert the run under the next id from a counter document.

        Sacred finds the largest id with a sort, a full scan on SecantusDB (67 ms
        at 5,000 runs). The counter starts after the largest id; when a run
        written outside tunelab (stock Sacred) took the id, it catches up.
        """
        if self.overwrite or self.run_entry.get("_id") is not None:
            return super().insert()
        counters = self.runs.database[COUNTERS]
        while True:
            counter = counters.find_one_and_update(
                {"_id": "runs"}, {"$inc": {"seq": 1}}, return_document=pymongo.ReturnDocument.AFTER
            )
            if counter is None:
                with contextlib.suppress(pymongo.errors.DuplicateKeyError):
                    counters.insert_one({"_id": "runs", "seq": self._largest_id()})
                continue
            self.run_entry["_id"] = counter["seq"]
            try:
                self.runs.insert_one(self.run_entry)
                return
            except pymongo.errors.InvalidDocument as exc:
                raise ObserverError(f"Run contained an unserializable entry (most likely in the info)\n{exc}") from exc
            except pymongo.errors.DuplicateKeyError:
                counters.update_one({"_id": "runs"}, {"$max": {"seq": self._largest_id()}})

    def _largest_id(self) -> int:
        last = self.runs.find_one({}, {"_id": 1}, sort=[("_id", pymongo.DESCENDING)])
        return last["_id"] if last else 0

    def save_sources(self, ex_info: Mapping[str, Any]) -> list[list[Any]]:
        source_info = []
        for source_name, path, md5 in self.source_files(ex_info):
            db_filename = os.path.join(ex_info["base_dir"], source_name)
            key = (id(self.runs.database.client), self.runs.database.name, db_filename, md5)
            file_id = self._stored_sources.get(key)
            if file_id is None:
                stored = self.fs.find_one({"filename": db_filename, "md5": md5})
                if stored is not None:
                    file_id = stored._id
                else:
                    with open(path, "rb") as source:
                        file_id = self.fs.put(source, filename=db_filename, md5=md5)
                self._stored_sources[key] = file_id
            source_info.append([source_name, file_id])
        return source_info

    def source_files(self, ex_info: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        """``(name, path to read, md5)`` for each source of the experiment."""
        return [(name, os.path.join(ex_info["base_dir"], name), md5) for name, md5 in ex_info["sources"]]

    def log_metrics(self, metrics_by_name, info):
        super().log_metrics(metrics_by_name, info)
        for name, series in metrics_by_name.items():
            finite = [float(v) for v in series["values"] if _is_finite(v)]
            if not finite:
                continue
            entry = self._summary.setdefault(name, {"min": math.inf, "max": -math.inf, "steps": 0})
            entry["min"] = min(entry["min"], *finite)
            entry["max"] = max(entry["max"], *finite)
            entry["last"] = finite[-1]
            entry["steps"] += len(series["values"])

    def completed_event(self, stop_time, result):
        self._write_summary()
        super().completed_event(stop_time, result)

    def interrupted_event(self, interrupt_time, status):
        self._write_summary()
        super().interrupted_event(interrupt_time, status)

    def failed_event(self, fail_time, fail_trace):
        self._write_summary()
        super().failed_event(fail_time, fail_trace)

    def _write_summary(self) -> None:
        """``info.summary`` (best, last, min, max, steps per metric) and ``info.git_commit``; new
        metrics get their Omniboard columns."""
        info = self.run_entry.setdefault("info", {})
        info["summary"] = {
            summary_key(name): {**values, "best": values["min"] if lower_is_better(name) else values["max"]}
            for name, values in self._summary.items()
        }
        if self._git_commit:
            info["git_commit"] = self._git_commit
        database = self.runs.database
        keys = {(id(database.client), database.name, metric): metric for metric in self._summary}
        new = {key: metric for key, metric in keys.items() if key not in self._columns_registered}
        if new:
            register_columns(database, new.values())
            self._columns_registered.update(new)


def _is_finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


_clients: dict[str, pymongo.MongoClient] = {}
_last_ping: dict[str, float] = {}
_indexed: set[tuple[str, str]] = set()
PING_EVERY_S = 2.0


def mongo_observer(settings: Settings, queued_run: Mapping[str, Any] | None = None) -> TunelabMongoObserver:
    """An observer on tunelab's database, which must answer (started on demand if embedded).

    With ``queued_run`` (a QUEUED run's document) the run is recorded as that run.

    One client per process and URL; later runs check it with a ping on the open
    connection, at most every PING_EVERY_S (a search runs many short trials).
    """
    url = settings.mongo_url or db.embedded_server(settings).url
    if url not in _clients:
        _clients[url] = db.client(db.mongo_url(settings))
    elif time.monotonic() - _last_ping.get(url, 0.0) > PING_EVERY_S:
        db.ping_client(_clients[url], url)
    _last_ping[url] = time.monotonic()
    if (url, settings.db_name) not in _indexed:
        ensure_indexes(_clients[url][settings.db_name])
        _indexed.add((url, settings.db_name))
    return TunelabMongoObserver(_clients[url], settings.db_name, str(settings.failed_saves_dir), queued_run)


def ensure_indexes(database: pymongo.database.Database) -> None:
    """Create tunelab's indexes if missing (cheap when they exist)."""
    for collection, indexes in INDEXES.items():
        for keys in indexes:
            database[collection].create_index(keys)


def tracking_observers(
    settings: Settings, offline: bool = False, queued_run: Mapping[str, Any] | None = None
) -> list[RunObserver]:
    """The observers for one run: MongoDB (as ``queued_run`` if given), or a local directory for
    ``tunelab sync`` when offline."""
    if offline:
        return [FileStorageObserver(str(settings.offline_dir))]
    return [mongo_observer(settings, queued_run)]
