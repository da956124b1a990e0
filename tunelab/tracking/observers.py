"""Sacred observers as tunelab configures them."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import pymongo
from sacred.observers import FileStorageObserver, MongoObserver, RunObserver

from tunelab import db
from tunelab.settings import Settings

# Sacred flushes metrics and captured output on each heartbeat (its default is 10 s).
BEAT_INTERVAL_S = 1.0


class TunelabMongoObserver(MongoObserver):
    """Sacred's MongoObserver, same schema, with three changes.

    * Source files are stored once per content (pymongo 4 dropped GridFS md5,
      so the stock observer uploads every source again on every run).
    * A run it cannot save is pickled to ``failure_dir`` instead of crashing.
    * At the end of a run, ``info.summary`` holds each metric's last, min and
      max value and step count, so dashboards need no join over ``metrics``.
    """

    def __init__(self, client: pymongo.MongoClient, db_name: str, failure_dir: str) -> None:
        super().__init__(client=client, db_name=db_name, failure_dir=failure_dir)
        self._summary: dict[str, dict[str, float]] = {}

    def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):
        self._summary = {}
        return super().started_event(ex_info, command, host_info, start_time, config, meta_info, _id)

    def save_sources(self, ex_info: Mapping[str, Any]) -> list[list[Any]]:
        source_info = []
        for source_name, path, md5 in self.source_files(ex_info):
            db_filename = os.path.join(ex_info["base_dir"], source_name)
            stored = self.fs.find_one({"filename": db_filename, "md5": md5})
            if stored is not None:
                file_id = stored._id
            else:
                with open(path, "rb") as source:
                    file_id = self.fs.put(source, filename=db_filename, md5=md5)
            source_info.append([source_name, file_id])
        return source_info

    def source_files(self, ex_info: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        """``(name, path to read, md5)`` for each source of the experiment."""
        return [
            (name, os.path.join(ex_info["base_dir"], name), md5) for name, md5 in ex_info["sources"]
        ]

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
        self.run_entry.setdefault("info", {})["summary"] = {
            name.replace(".", "_"): values for name, values in self._summary.items()
        }


def _is_finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


_clients: dict[str, pymongo.MongoClient] = {}


def mongo_observer(settings: Settings) -> TunelabMongoObserver:
    """An observer on tunelab's database, which must answer (started on demand if embedded).

    One client per process and URL: later runs check it with a ping on the open connection.
    """
    url = settings.mongo_url or db.embedded_server(settings).url
    if url in _clients:
        db.ping_client(_clients[url], url)
    else:
        _clients[url] = db.client(db.mongo_url(settings))
    return TunelabMongoObserver(_clients[url], settings.db_name, str(settings.failed_saves_dir))


def tracking_observers(settings: Settings, offline: bool = False) -> list[RunObserver]:
    """The observers for one run: MongoDB, or a local directory for ``tunelab sync`` when offline."""
    if offline:
        return [FileStorageObserver(str(settings.offline_dir))]
    return [mongo_observer(settings)]
