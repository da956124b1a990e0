"""Sacred observers as tunelab configures them."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import bson
import pymongo
from bson.raw_bson import RawBSONDocument
from sacred.observers import FileStorageObserver, MongoObserver, RunObserver
from sacred.serializer import flatten
from sacred.utils import ObserverError

from tunelab import db
from tunelab.board.columns import lower_is_better, register_columns, summary_key
from tunelab.settings import Settings
from tunelab.tracking import liveness, metric_store
from tunelab.tracking.beats import Beats
from tunelab.tracking.run_ids import RUN_IDS
from tunelab.tracking.scheduler import airflow_context, airflow_tags

# Sacred flushes metrics and captured output on each heartbeat (its default is 10 s).
BEAT_INTERVAL_S = 1.0
# Equality lookups tunelab, Sacred and Omniboard make; without an index SecantusDB scans.
INDEXES = {
    "metrics": [[("run_id", 1), ("name", 1)]],
    metric_store.BUCKETS: [[("run_id", 1), ("name", 1), ("bucket", 1)]],
    "runs": [[("info.study", 1), ("info.trial", 1)], [("status", 1)], [("queue.key", 1)]],  # the last two: claims
}
# At most one QUEUED or RUNNING run per queued work key (tunelab.tracking.queue): the database refuses a second,
# so two batches that both found a config free never both run it. Descending, to differ from the lookup index.
ACTIVE_QUEUE_KEY = [("queue.key", -1)]
ACTIVE_QUEUE_KEY_FILTER = {"status": {"$in": ["QUEUED", "RUNNING"]}, "queue.key": {"$exists": True}}
OUTPUT_HEAD = OUTPUT_TAIL = 256 * 1024  # characters of captured output kept in the run document
OUTPUT_ARTIFACT = "captured_out.txt"  # the whole output, when longer
FINAL_SAVE_RETRY_S = 30.0
WRITER_THREADS = 4  # for final saves and trials' links to their runs, in the background
METRIC_DIRECTIONS = "metric_directions"  # info key: metric -> maximize|minimize, where a name cannot say it
INSERT_DELAY_S = 0.1  # a run is inserted this long after its start; one that ends sooner is written once, whole
_INSERTS = Beats("run-inserts")
log = logging.getLogger(__name__)


class TunelabMongoObserver(MongoObserver):
    """Sacred's MongoObserver, same schema, with these changes.

    * Run ids come from a counter document, RUN_ID_BLOCK at a time per process
      (Sacred counts the runs, then finds the largest id: a scan on SecantusDB).
      Ids are unique and increase within a process; processes running at once
      interleave by blocks, and a process leaves the ids it did not use unused.
    * The run is inserted INSERT_DELAY_S after its start, from a background
      thread, or sooner by any write that needs it (a metric, an artifact, a
      heartbeat's save). A run that ends before then (a trivial Optuna trial)
      is written once, whole, by its final save: one synced write, not two,
      and no wait for a round trip before its main function or after it.
      A run whose reserved id a stock Sacred run (the largest id + 1) took
      meanwhile moves to the next free id, and so does its Sacred ``run._id``
      (:meth:`run_started`); a move in a final save landing in the background
      is told to the ``on_moved`` of :func:`final_saves_in_background`.
    * Source files are stored once per content (pymongo 4 dropped GridFS md5,
      so the stock observer uploads every source again on every run); a
      process remembers the ones it has seen, which saves a query per source.
    * Nothing is lost silently. Sacred drops an observer after its first
      exception, so no hook raises for a database error: a heartbeat that
      fails is saved again at the next one, metric points wait in a buffer
      until they land, and the final save is retried for FINAL_SAVE_RETRY_S.
      A final save that cannot land is kept in ``failure_dir`` for
      :func:`tunelab.tracking.liveness.sweep` (which lands it or marks the run
      FAILED); an artifact that could not be stored makes the run FAILED.
    * Captured output longer than OUTPUT_HEAD + OUTPUT_TAIL keeps its head and
      tail in the run document, and the whole output is the artifact OUTPUT_ARTIFACT.
    * Metric series of any length (:mod:`tunelab.tracking.metric_store`).
    * The run document holds ``host.pid`` (for the liveness sweep) and, from
      its insertion on, the run's initial ``info`` (a search's study and trial).
    * A queued run's document holds its ``queue_entry`` (as ``queue``) from its
      insertion on: no reader ever sees it QUEUED without it
      (:mod:`tunelab.tracking.queue`). A QUEUED document that cannot be
      inserted fails the run (Sacred's rule for a failing ``queued_event``).
    * At the end of a run, ``info.summary`` holds each metric's best, last, min
      and max value and step count, and ``info.git_commit`` the commit, so
      dashboards need no join over ``metrics``; Omniboard gets custom columns
      for them (:mod:`tunelab.board.columns`).
    * Each artifact entry records the file's ``sha256`` besides its GridFS id,
      so readers can refuse a file changed since (:func:`~tunelab.tracking.artifacts.read_artifact`).
    * :meth:`replace_config` sets the stored config after the start: an Optuna
      objective's parameters are only known once it has suggested them.
    * A heartbeat less than half a beat after the last write updates the entry
      without writing it: the next write (a beat, or the end of the run, which
      Sacred saves right after its last beat) carries it. A short run (an
      Optuna trial) saves one round trip.
    * The final save sets only the fields changed since the last write (the
      others only if the document is missing), not the whole entry: less work
      for SecantusDB, which applies updates in Python.
    * A run made inside an Airflow task starts with the Omniboard tags
      ``dag:DAG_ID`` and ``dag_run:RUN_ID`` (:mod:`tunelab.tracking.scheduler`).
    """

    _columns_registered: set[tuple[int, str, str]] = set()  # (client id, db, metric), per process

    def __init__(
        self,
        client: pymongo.MongoClient,
        db_name: str,
        failure_dir: str,
        info: Mapping[str, Any] | None = None,
        queued_run: Mapping[str, Any] | None = None,
        queue_entry: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(client=client, db_name=db_name, failure_dir=failure_dir)
        self._initial_info = dict(info or {})
        self._queue_entry = dict(queue_entry) if queue_entry is not None else None
        self.overwrite = dict(queued_run) if queued_run is not None else None  # Sacred's queued-run flow
        self._summary: dict[str, dict[str, float]] = {}
        self._git_commit: str | None = None
        self._written_at = -math.inf
        self._written: dict[str, bytes] = {}  # each field of the entry as last written (BSON)
        self._pending: dict[str, dict[str, list]] = {}  # metric points not stored yet
        self._stored: dict[str, int] = {}  # metric name -> points stored
        self._output = ""  # the whole captured output
        self._lost: list[str] = []  # what could not be stored (the run becomes FAILED)
        # Sacred waits only 2 s for the heartbeat thread, which may still be saving when the run ends
        self._lock = threading.RLock()
        self._unsent: tuple[dict[str, Any], RawBSONDocument] | None = None  # the insert, until it is sent
        self._insert_timer: int | None = None  # its token on _INSERTS
        self._in_database = False  # the run's insert has landed
        self._insert_error: Exception | None = None  # why the last insert failed
        self._insert_lock = threading.Lock()
        self._run: Any = None  # the Sacred run, whose ``_id`` follows a moved insert

    def run_started(self, run: Any) -> None:
        """Sacred's run, right after its start: its ``_id`` is kept equal to the id the run is stored under."""
        with self._id_lock:
            self._run = run
            run._id = self._id

    _id_lock = threading.Lock()  # between run_started and a moved insert (never held while waiting)

    def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):
        self._summary = {}
        repositories = ex_info.get("repositories") or [{}]
        commit = repositories[0].get("commit")
        self._git_commit = commit and commit[:12] + ("-dirty" if repositories[0].get("dirty") else "")
        host_info = {**host_info, "pid": host_info.get("pid", os.getpid())}
        return super().started_event(ex_info, command, host_info, start_time, config, meta_info, _id)

    def queued_event(self, ex_info, command, host_info, queue_time, config, meta_info, _id):
        """Sacred's, with the queue entry in the document; returns once the insert has landed.

        Raises ObserverError if it cannot land (Sacred then fails the run).
        """
        super().queued_event(ex_info, command, host_info, queue_time, config, meta_info, _id)
        if not self._inserted():
            if isinstance(self._insert_error, QueuedElsewhere):
                raise self._insert_error
            raise ObserverError(f"queued run {self._id}: its QUEUED document could not be inserted (see the log)")
        return self._id

    _stored_sources: dict[tuple[int, str, str, str], Any] = {}  # (client id, db, file, md5) -> GridFS id

    def insert(self) -> None:
        """Insert the run INSERT_DELAY_S from now, from a timer thread (or at its first write that needs it),
        under the next id this process reserved (:class:`~tunelab.tracking.run_ids.RunIds`).

        A run that cannot be encoded fails here, before it starts. Inside an
        Airflow task, the run starts with the task's tags. A QUEUED document
        holds the queue entry the observer was given.
        """
        self.run_entry["info"] = {**self._initial_info, **self.run_entry.get("info", {})}
        if self._git_commit:  # from the first write: a run whose process dies keeps its code's version
            self.run_entry["info"]["git_commit"] = self._git_commit
        if self._queue_entry is not None and self.run_entry.get("status") == "QUEUED":
            self.run_entry["queue"] = self._queue_entry
        if tags := airflow_tags(airflow_context()):
            self.run_entry.setdefault("omniboard", {}).setdefault("tags", []).extend(tags)
        if self.overwrite or self.run_entry.get("_id") is not None:  # Sacred's insert, in this thread
            self._in_database = True  # a queued run's document is there; a given id's fails the run if taken
            return super().insert()
        self.run_entry["_id"] = RUN_IDS.take(self.runs)
        entry = dict(self.run_entry)
        try:
            document = self._encode(entry)
        except bson.errors.InvalidDocument as exc:
            raise ObserverError(f"Run contained an unserializable entry (most likely in the info)\n{exc}") from exc
        self._written_at = time.monotonic()  # a beat this early waits for the next write, as after an insert
        self._unsent = (entry, document)
        try:
            self._insert_timer = _INSERTS.once(INSERT_DELAY_S, self._send_insert)
        except RuntimeError:  # the interpreter is exiting: no new threads
            self._send_insert()

    def _send_insert(self) -> None:
        """Send the insert now unless it was sent (or taken by the final save); from the timer or a writer.

        It sends the run as it is now (a trial's parameters suggested since its start, say), or as it was
        encoded at its start if it can no longer be encoded.
        """
        with self._insert_lock:
            unsent, self._unsent = self._unsent, None
            if unsent is None:
                return
            entry = dict(self.run_entry)  # one C call: atomic for the run's thread
            try:
                unsent = (entry, self._encode(entry))
            except (bson.errors.InvalidDocument, RuntimeError):  # something the run added since
                pass
            self._try_insert(*unsent)

    def _drop_unsent_insert(self) -> None:
        """Stop the insert's timer (waiting for a send in progress) and drop the insert if it was never sent:
        the caller (the final save) inserts the run whole."""
        if self._insert_timer is not None:
            _INSERTS.stop(self._insert_timer)
        with self._insert_lock:
            self._unsent = None

    def _try_insert(self, entry: dict[str, Any], document: RawBSONDocument | None) -> None:
        try:
            self._insert_entry(entry, document)
        except QueuedElsewhere as exc:  # the caller (an enqueue) says so
            self._insert_error = exc
        except Exception as exc:  # noqa: BLE001 - the run goes on; its next write inserts it again
            self._insert_error = exc
            log.warning("run %s: inserting it failed (tried again at its next write): %s", self._id, exc)

    def _insert_entry(self, entry: dict[str, Any], document: RawBSONDocument | None = None) -> Any:
        """Insert ``entry``; an id a stock Sacred run took meanwhile moves the run (and Sacred's ``run._id``)
        to the next free one. Returns the id it landed under. Raises what the database raises. Takes no
        lock a waiting writer may hold."""
        while True:
            document = document if document is not None else self._encode(entry)
            try:
                self.runs.insert_one(document)
            except pymongo.errors.DuplicateKeyError as exc:
                if _on_active_queue_key(exc):
                    raise QueuedElsewhere(f"{entry['queue']['key']} is already queued or running") from None
                RUN_IDS.skip_taken(self.runs)
                entry, document = {**entry, "_id": RUN_IDS.take(self.runs)}, None
                with self._id_lock:
                    self.run_entry["_id"] = entry["_id"]
                    if self._run is not None:
                        self._run._id = entry["_id"]
                continue
            self._mark_written(document)  # as sent: ``entry`` shares lists and dicts the run may have changed since
            self._in_database = True
            return entry["_id"]

    def _inserted(self) -> bool:
        """Whether the run is in the database: sends its insert now if not sent yet (or waits for the timer's),
        and tries again if it failed.

        Called before any other write of the run: an upsert where the insert
        failed could land on a run that stock Sacred wrote under that id meanwhile.
        """
        self._send_insert()
        if not self._in_database:
            with self._insert_lock:  # the run's thread and its heartbeat (and the timer): one insert
                if not self._in_database:
                    self._try_insert(dict(self.run_entry), None)
        return self._in_database

    def _encode(self, entry: Mapping[str, Any]) -> RawBSONDocument:
        return RawBSONDocument(bson.encode(entry, codec_options=self.runs.codec_options))

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

    def heartbeat_event(self, info, captured_out, beat_time, result):
        with self._lock:
            self._output = captured_out
            captured_out = _head_and_tail(captured_out)
            if time.monotonic() - self._written_at >= BEAT_INTERVAL_S / 2:
                return super().heartbeat_event(info, captured_out, beat_time, result)
            entry = {"info": flatten(info), "captured_out": captured_out, "heartbeat": beat_time}
            self.run_entry.update({**entry, "result": flatten(result)})

    def save(self) -> None:
        """Sacred's save, except that no database error escapes: the next heartbeat saves again."""
        if not self._inserted():
            return  # logged; the next heartbeat tries again
        with self._lock:  # the fields remembered as written are those the write sent
            try:  # not super().save(): it swallows AutoReconnect, and a field would pass for written
                self.runs.update_one({"_id": self._id}, {"$set": self.run_entry})
                self._mark_written(self.run_entry)
            except (pymongo.errors.PyMongoError, bson.errors.InvalidDocument) as exc:
                log.warning("run %s: saving to the database failed (retried at the next heartbeat): %s", self._id, exc)

    def artifact_event(self, name, filename, metadata=None, content_type=None):
        """Sacred's, with the file's sha256 in the run's artifact entry; a file that cannot be stored
        makes the run FAILED."""
        self._inserted()  # the file is named after the run's id
        try:
            with open(filename, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
                f.seek(0)
                file_id = self.fs.put(
                    f,
                    filename=f"artifact://{self.runs.name}/{self._id}/{name}",
                    metadata=metadata,
                    content_type=content_type or self._try_to_detect_content_type(filename),
                )
        except pymongo.errors.PyMongoError as exc:
            self._lost.append(f"artifact {name!r} could not be stored: {exc}")
            log.warning("run %s: %s", self._id, self._lost[-1])
            return
        self.run_entry["artifacts"].append({"name": name, "file_id": file_id, "sha256": digest})
        self.save()

    def replace_config(self, config: Mapping[str, Any]) -> None:
        """The run's stored config becomes ``config`` at the next save (a heartbeat or the end).

        Without the lock, which a save holds while the database answers: the caller (a trial's every
        ``suggest_*``) must not wait for an outage. Setting one key of the entry to a new dict is atomic,
        and a save encodes the entry whole, with the old config or the new one.
        """
        self.run_entry["config"] = dict(config)

    @property
    def _id(self) -> Any:
        return (self.run_entry or {}).get("_id")

    def log_metrics(self, metrics_by_name, info):
        with self._lock:
            for name, series in metrics_by_name.items():
                pending = self._pending.setdefault(name, {key: [] for key in metric_store.FIELDS})
                for key in metric_store.FIELDS:
                    pending[key].extend(series[key])
                self._summarize(name, series["values"])
            self._store_metrics(info)

    def _summarize(self, name: str, values: list) -> None:
        finite = [float(v) for v in values if _is_finite(v)]
        if finite:
            entry = self._summary.setdefault(name, {"min": math.inf, "max": -math.inf, "steps": 0})
            entry["min"] = min(entry["min"], *finite)
            entry["max"] = max(entry["max"], *finite)
            entry["last"] = finite[-1]
            entry["steps"] += len(values)

    def _store_metrics(self, info: dict) -> None:
        """Store the pending points; what the database refuses now waits for the next call."""
        if not any(pending["values"] for pending in self._pending.values()):
            return  # nothing to store (Sacred calls this on every heartbeat): the run need not be inserted yet
        if not self._inserted():  # points are stored under the run's id, not known for sure until then
            return
        try:
            for name, pending in self._pending.items():
                while pending["values"]:
                    stored = self._stored.get(name, 0)
                    count, created = metric_store.store_points(self.runs.database, self._id, name, stored, pending)
                    if created is not None:
                        info.setdefault("metrics", []).append({"name": name, "id": str(created)})
                    self._stored[name] = stored + count
                    for key in metric_store.FIELDS:
                        del pending[key][:count]
        except pymongo.errors.PyMongoError as exc:
            log.warning("run %s: storing metrics failed (retried at the next heartbeat): %s", self._id, exc)

    def completed_event(self, stop_time, result):
        self._finish()
        if self._lost:
            return super().failed_event(stop_time, ["the run completed, but " + "; ".join(self._lost)])
        super().completed_event(stop_time, result)

    def interrupted_event(self, interrupt_time, status):
        self._finish()
        super().interrupted_event(interrupt_time, status)

    def failed_event(self, fail_time, fail_trace):
        self._finish()
        super().failed_event(fail_time, list(fail_trace or []) + [f"also: {lost}\n" for lost in self._lost])

    def final_save(self, attempts: int) -> None:
        """Save the finished run (Sacred's ``attempts`` is ignored).

        Within :func:`final_saves_in_background`, the run is first kept in
        ``failure_dir`` (on disk, as a failed save would be) and the write
        goes on in a background thread, so the caller can go on: a run that
        the process does not live to land is landed by the next process (or
        :func:`tunelab.tracking.liveness.sweep`). Otherwise (or if the copy
        cannot be written, as on a full disk) the save happens here. A run not
        inserted yet (or whose insert failed) is inserted whole by this save.
        """
        self._drop_unsent_insert()  # from here on, the run is in the database or this save inserts it
        with self._lock:
            changed, unchanged = self._changes()
            entry = dict(self.run_entry)
        update = {op: fields for op, fields in (("$set", changed), ("$setOnInsert", unchanged)) if fields}
        saves = _BACKGROUND_SAVES.get()
        if saves is not None:
            try:
                kept = liveness.keep_failed_save(
                    Path(self.failure_dir), self.runs.database, entry, liveness.IN_FLIGHT_REASON
                )
            except OSError as exc:
                log.warning("run %s: no local copy of its final save (%s): saving it now", self._id, exc)
            else:
                saves.pending[:] = [
                    *(other for other in saves.pending if not other.done()),
                    in_background(self._land, update, entry, kept, saves.on_moved),
                ]
                return
        self._land(update, entry, None)

    def _land(
        self,
        update: dict[str, Any],
        entry: dict[str, Any],
        kept: Path | None,
        on_moved: Callable[[Any, Any], None] | None = None,
    ) -> None:
        """Write the final ``update`` (the whole ``entry`` if the run was never inserted), retrying for
        FINAL_SAVE_RETRY_S; then drop the ``kept`` copy. A save that cannot land stays kept in ``failure_dir``
        (under the id the run has by then) for :func:`tunelab.tracking.liveness.sweep`. An insert that moved
        the run calls ``on_moved(old id, new id)``. Raises nothing."""
        deadline = time.monotonic() + FINAL_SAVE_RETRY_S
        delay = 0.25
        while True:
            try:
                if self._in_database:  # upsert: a document deleted meanwhile comes back whole
                    self.runs.update_one({"_id": entry["_id"]}, update, upsert=True)
                else:
                    landed = self._insert_entry(entry)
                    if landed != entry["_id"] and on_moved is not None:
                        self._tell_moved(on_moved, entry["_id"], landed)
                if kept is not None:
                    kept.unlink(missing_ok=True)  # or landed by a recovery meanwhile
                return
            except pymongo.errors.ConnectionFailure as exc:
                reason = f"{type(exc).__name__}: {exc}"
                if time.monotonic() + delay > deadline:
                    break
                time.sleep(delay)
                delay = min(delay * 2, 4.0)
            except (pymongo.errors.PyMongoError, bson.errors.InvalidDocument) as exc:  # retrying cannot help
                reason = f"{type(exc).__name__}: {exc}"
                break
        entry = {**entry, "_id": self._id}  # moved, if an insert found its id taken before the save failed
        try:
            path = liveness.keep_failed_save(Path(self.failure_dir), self.runs.database, entry, reason)
        except OSError as exc:
            path = kept  # the copy kept before the save, if any
            log.error("run %s: no copy of its final save could be kept on disk: %s", entry["_id"], exc)
        else:
            if kept is not None:
                kept.unlink(missing_ok=True)  # superseded by the copy with the reason
        log.error(
            "run %s: its final save failed (%s); kept in %s, landed or marked FAILED by the next sweep",
            entry["_id"],
            reason,
            path,
        )

    def _tell_moved(self, on_moved: Callable[[Any, Any], None], old_id: Any, new_id: Any) -> None:
        try:
            on_moved(old_id, new_id)
        except Exception as exc:  # noqa: BLE001 - the run has landed; only the note of its move is missing
            log.warning("run %s: landed as run %s, and noting that failed: %s", old_id, new_id, exc)

    def _mark_written(self, entry: Mapping[str, Any]) -> None:
        """The whole ``entry`` is in the database now: remember when, and each field as written."""
        self._written_at = time.monotonic()
        self._written = {key: self._bson(value) for key, value in entry.items()}

    def _changes(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The entry's fields (but ``_id``) split into those changed since the last write and the others."""
        changed, unchanged = {}, {}
        for key, value in self.run_entry.items():
            if key != "_id":
                same = self._written.get(key) == self._bson(value)
                (unchanged if same else changed)[key] = value
        return changed, unchanged

    def _bson(self, value: Any) -> bytes:
        return bson.encode({"v": value}, codec_options=self.runs.codec_options)

    def _finish(self) -> None:
        """Before the final save: store what waits (metrics, the whole output) and the summary."""
        with self._lock:
            self._store_metrics(self.run_entry.setdefault("info", {}))
            unstored = sorted(name for name, pending in self._pending.items() if pending["values"])
            if unstored:
                self._lost.append(f"metrics {unstored} could not be stored")
            if len(self._output) > OUTPUT_HEAD + OUTPUT_TAIL:
                self._store_output()
            self._write_summary()

    def _store_output(self) -> None:
        self._inserted()  # the file is named after the run's id
        filename = f"artifact://{self.runs.name}/{self._id}/{OUTPUT_ARTIFACT}"
        data = self._output.encode()
        try:
            file_id = self.fs.put(data, filename=filename, content_type="text/plain")
        except pymongo.errors.PyMongoError as exc:
            self._lost.append(f"the whole captured output could not be stored: {exc}")
            return
        digest = hashlib.sha256(data).hexdigest()
        self.run_entry["artifacts"].append({"name": OUTPUT_ARTIFACT, "file_id": file_id, "sha256": digest})

    def _write_summary(self) -> None:
        """``info.summary`` (best, last, min, max, steps per metric) and ``info.git_commit``; new
        metrics get their Omniboard columns."""
        info = self.run_entry.setdefault("info", {})
        directions = self._initial_info.get(METRIC_DIRECTIONS, {})
        info["summary"] = {
            summary_key(name): {**values, "best": values["min"] if _minimized(name, directions) else values["max"]}
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


def _minimized(metric: str, directions: Mapping[str, str]) -> bool:
    """Whether a metric's best value is its smallest: as the run's ``info.metric_directions`` says (a search's
    objective), else as its name says (``val_loss``)."""
    return directions.get(metric, "minimize" if lower_is_better(metric) else "maximize") == "minimize"


def _head_and_tail(output: str) -> str:
    """``output`` if short; else its head and tail around a line saying where the whole of it is."""
    if len(output) <= OUTPUT_HEAD + OUTPUT_TAIL:
        return output
    omitted = len(output) - OUTPUT_HEAD - OUTPUT_TAIL
    note = f"\n[… {omitted:,} characters left out here; the whole output is the artifact {OUTPUT_ARTIFACT} …]\n"
    return output[:OUTPUT_HEAD] + note + output[-OUTPUT_TAIL:]


def _is_finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


_WRITERS: dict[int, ThreadPoolExecutor] = {}  # per process: a forked child starts its own threads


def _writes() -> ThreadPoolExecutor:
    """This process's threads for the writes runs make in the background (Python waits for them at exit)."""
    writers = _WRITERS.get(os.getpid())
    if writers is None:
        writers = _WRITERS.setdefault(os.getpid(), ThreadPoolExecutor(WRITER_THREADS, "tunelab-writes"))
    return writers


def in_background(function: Callable[..., Any], *args: Any) -> Future:
    """``function(*args)`` on this process's writer threads (a trial's link to its run, written while it runs)."""
    return _writes().submit(function, *args)


@dataclasses.dataclass
class _BackgroundSaves:
    pending: list[Future]
    on_moved: Callable[[Any, Any], None] | None


_BACKGROUND_SAVES: contextvars.ContextVar[_BackgroundSaves | None] = contextvars.ContextVar(
    "tunelab_background_saves", default=None
)


@contextlib.contextmanager
def final_saves_in_background(on_moved: Callable[[Any, Any], None] | None = None) -> Iterator[None]:
    """Within it (in this thread), runs save their end in the background (:meth:`TunelabMongoObserver.final_save`):
    an Optuna worker tells the study while the run's last write travels. On exit, every such save has landed,
    or is kept for the sweep.

    A run inserted by that save lands under its id unless a stock Sacred run took it meanwhile; it then
    lands under the next free id, after the caller has read the first: ``on_moved(old id, new id)`` says so
    (from a writer thread).
    """
    saves = _BackgroundSaves([], on_moved)
    token = _BACKGROUND_SAVES.set(saves)
    try:
        yield
    finally:
        _BACKGROUND_SAVES.reset(token)
        for landing in saves.pending:
            landing.result()


_last_ping: dict[str, float] = {}
_indexed: set[tuple[str, str]] = set()
PING_EVERY_S = 2.0


def mongo_observer(
    settings: Settings,
    info: Mapping[str, Any] | None = None,
    queued_run: Mapping[str, Any] | None = None,
    queue_entry: Mapping[str, Any] | None = None,
) -> TunelabMongoObserver:
    """An observer on tunelab's database, which must answer (started on demand if embedded).

    It uses the process's one client (:func:`tunelab.db.connect`); later runs
    check it with a ping on the open connection, at most every PING_EVERY_S (a
    search runs many short trials).
    The first use in a process creates the indexes and lands the final saves
    that failed earlier (:func:`tunelab.tracking.liveness.recover_failed_saves`).
    ``info`` is the run's initial info, in its document from the start. With
    ``queued_run`` (a QUEUED run's document) the run is recorded as that run;
    with ``queue_entry``, a run Sacred queues is inserted with it (its ``queue``).
    """
    database = db.connect(settings)
    url = db.configured_url(settings)
    if time.monotonic() - _last_ping.setdefault(url, time.monotonic()) > PING_EVERY_S:
        db.ping_client(database.client, url)
    _last_ping[url] = time.monotonic()
    if (url, settings.db_name) not in _indexed:
        ensure_indexes(database)
        unsaved = liveness.recover_failed_saves(database, settings.failed_saves_dir)[1]
        liveness.fail_runs(database["runs"], unsaved, only_running=False)
        _indexed.add((url, settings.db_name))
    failure_dir = str(settings.failed_saves_dir)
    return TunelabMongoObserver(database.client, settings.db_name, failure_dir, info, queued_run, queue_entry)


def ensure_indexes(database: pymongo.database.Database) -> bool:
    """Create tunelab's indexes if missing (cheap when they exist); whether ACTIVE_QUEUE_KEY holds.

    A database whose runs already break ACTIVE_QUEUE_KEY (queued by an older
    tunelab), or a server that cannot make it (an older MongoDB, without
    ``$in`` in partial indexes), gets a warning and False: its claimers check
    the key by reading it.
    """
    for collection, indexes in INDEXES.items():
        for keys in indexes:
            database[collection].create_index(keys)
    try:
        database["runs"].create_index(ACTIVE_QUEUE_KEY, unique=True, partialFilterExpression=ACTIVE_QUEUE_KEY_FILTER)
    except pymongo.errors.OperationFailure as exc:  # duplicates, or an older MongoDB
        why = "two active queued runs share a config key" if exc.code == 11000 else "the server cannot make it"
        log.warning(
            "database %s: no unique index of active queued runs (%s), so claims check a config key by reading it: %s",
            database.name,
            why,
            exc,
        )
        return False
    return True


def _on_active_queue_key(exc: pymongo.errors.DuplicateKeyError) -> bool:
    """Whether ``exc`` is ACTIVE_QUEUE_KEY's refusal (not an id taken)."""
    return "queue.key" in ((exc.details or {}).get("keyPattern") or {}) or "queue.key" in str(exc)


class QueuedElsewhere(ObserverError):
    """A QUEUED run's work key is already QUEUED or RUNNING in another run (:data:`ACTIVE_QUEUE_KEY`)."""


def tracking_observers(
    settings: Settings,
    offline: bool = False,
    info: Mapping[str, Any] | None = None,
    queued_run: Mapping[str, Any] | None = None,
) -> list[RunObserver]:
    """The observers for one run: MongoDB (as ``queued_run`` if given), or a local directory for
    ``tunelab sync`` when offline."""
    if offline:
        return [FileStorageObserver(str(settings.offline_dir))]
    return [mongo_observer(settings, info, queued_run)]
