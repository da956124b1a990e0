"""Batches: many runs in worker processes; failures don't stop the batch, Ctrl-C leaves nothing RUNNING.

Online, worker processes claim runs from the queue (:mod:`tunelab.tracking.queue`),
so processes on other machines can share the work; offline, each request is
handed to a worker directly.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing.connection
import multiprocessing.process
import os
import pickle
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection

import psutil
from pymongo.database import Database
from pymongo.errors import PyMongoError

from tunelab import db
from tunelab.errors import TunelabError
from tunelab.settings import Settings
from tunelab.tracking import liveness, queue, worker_process
from tunelab.tracking.runner import RunOutcome, RunRequest, execute

POLL_S = 1.0  # how often a waiting worker looks at the queue again
log = logging.getLogger(__name__)


class BatchInterrupted(Exception):
    """Ctrl-C stopped the batch; ``outcomes`` holds every request's outcome."""

    def __init__(self, outcomes: list[RunOutcome]) -> None:
        super().__init__("batch interrupted")
        self.outcomes = outcomes


def completed_keys(database: Database, requests: Sequence[RunRequest]) -> set[str]:
    """The request keys that already have a COMPLETED run in ``database``."""
    keys = [r.key for r in requests]
    found = database.runs.find({"info.batch_key": {"$in": keys}, "status": "COMPLETED"}, {"info.batch_key": 1})
    return {doc["info"]["batch_key"] for doc in found}


def run_batch(
    settings: Settings,
    requests: Sequence[RunRequest],
    workers: int,
    offline: bool = False,
    on_outcome: Callable[[RunOutcome], None] = lambda outcome: None,
) -> list[RunOutcome]:
    """Run ``requests`` in ``workers`` processes; outcomes come back in request order.

    Raises BatchInterrupted on Ctrl-C, after the runs that were going have been
    recorded as INTERRUPTED; requests not started are SKIPPED.
    """
    outcomes: dict[int, RunOutcome] = {}
    pool = _pool(settings, workers)
    futures: dict[Future, int] = {}
    try:
        futures = {pool.submit(_run_in_worker, settings, r, offline): i for i, r in enumerate(requests)}
        for future in as_completed(futures):
            outcomes[futures[future]] = outcome = future.result()
            on_outcome(outcome)
    except BrokenProcessPool:  # a worker was killed (the OOM killer): the pool stops every worker
        for future, index in futures.items():
            if index not in outcomes:
                outcomes[index] = _broken(requests[index], future)
        if not offline:
            liveness.sweep(db.connect(settings), settings.failed_saves_dir, silent_for_s=0.0)
    except KeyboardInterrupt:
        worker_process.stop_workers(pool)
        for future, index in futures.items():
            if index not in outcomes and future.done() and not future.cancelled():
                outcomes[index] = future.result()
        raise BatchInterrupted(_in_order(requests, outcomes)) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return _in_order(requests, outcomes)


def _broken(request: RunRequest, future: Future) -> RunOutcome:
    if future.done() and not future.cancelled() and future.exception() is None:
        return future.result()
    error = "a worker process died (killed by a signal?); run the batch again to resume"
    return RunOutcome(request.experiment, request.config_file, None, "FAILED", error=error)


def run_queued_batch(
    settings: Settings,
    requests: Sequence[RunRequest],
    workers: int,
    on_outcome: Callable[[RunOutcome], None] = lambda outcome: None,
) -> list[RunOutcome]:
    """Queue ``requests`` as one new batch and run it here, claiming as any worker does; outcomes in request order.

    A request whose config is queued or running elsewhere already (another
    batch, a worker) is not run again here: its outcome is SKIPPED. Raises
    BatchInterrupted on Ctrl-C; the batch's runs not started are cancelled.
    """
    database = db.connect(settings)
    batch = queue.new_batch_id()
    ids = queue.enqueue(settings, database, requests, batch, queue.code_version(settings))
    selector = queue.Selector(batch=batch, any_version=True)
    try:
        outcomes = drain_queue(settings, selector, workers, on_outcome=on_outcome)
    except BatchInterrupted as interrupted:
        queue.cancel(database, batch)
        raise BatchInterrupted(_by_request(requests, ids, interrupted.outcomes)) from None
    return _by_request(requests, ids, outcomes)


def _by_request(requests: Sequence[RunRequest], ids: list[int | None], outcomes: list[RunOutcome]) -> list[RunOutcome]:
    by_id = {o.run_id: o for o in outcomes}
    return _in_order(requests, {i: by_id[run_id] for i, run_id in enumerate(ids) if run_id in by_id})


def drain_queue(
    settings: Settings,
    selector: queue.Selector,
    workers: int,
    keep_waiting: bool = False,
    on_outcome: Callable[[RunOutcome], None] = lambda outcome: None,
) -> list[RunOutcome]:
    """Claim and run the queued runs ``selector`` picks in ``workers`` processes; outcomes in finishing order.

    Returns when no claimable run is left; with ``keep_waiting``, polls until Ctrl-C.
    A worker process that dies (``kill -9``, the OOM killer) costs only its own
    run, which goes back to the queue within the retry budget (else it is
    FAILED, and its outcome says why), and a new process takes its place; the
    others go on. A worker's error (the database is down) is raised once the
    others have ended (with ``keep_waiting``, once they are interrupted).
    Raises BatchInterrupted on Ctrl-C, after the runs that were going have been
    recorded as INTERRUPTED (runs not claimed stay QUEUED).
    """
    drainers = _Drainers(settings, selector, keep_waiting, workers)
    outcomes: list[RunOutcome] = []
    try:
        for _ in range(workers):
            drainers.start()
        for outcome in drainers.outcomes():
            outcomes.append(outcome)
            on_outcome(outcome)
    except KeyboardInterrupt:
        outcomes += drainers.stop()
        raise BatchInterrupted(outcomes) from None
    finally:
        drainers.stop()  # after an error here: the workers record their runs and end (nothing left when done)
    if drainers.errors:
        raise drainers.errors[0]
    return outcomes


@dataclass
class _Drainer:
    """One of :class:`_Drainers`' processes and the pipe it sends its outcomes down."""

    process: multiprocessing.process.BaseProcess
    receiver: Connection | None  # None once the worker's end is closed
    started: float | None  # the process's create time, as its claims record it


class _Drainers:
    """:func:`drain_queue`'s worker processes. Each sends its outcomes down a pipe of its own, so that one killed
    mid-send garbles only its own (a process pool breaks, and stops every worker, when one of them dies)."""

    def __init__(self, settings: Settings, selector: queue.Selector, keep_waiting: bool, workers: int) -> None:
        self._settings = settings
        self._keep_waiting = keep_waiting
        self._args = (settings, selector, keep_waiting)
        self._context = worker_process.context([__name__])
        self._drainers: list[_Drainer] = []
        self._replacements_left = 3 * workers  # processes that die are replaced, a few times per worker
        self.errors: list[Exception] = []  # a worker's, or from recording a dead one
        self._stopping = False

    def start(self) -> None:
        receiver, sender = self._context.Pipe(duplex=False)
        process = self._context.Process(target=_drain, args=(sender, *self._args))  # not daemonic: runs may fork
        process.start()
        sender.close()  # the worker's copy is the only one: its end is the pipe's
        try:
            started = psutil.Process(process.pid).create_time()
        except psutil.NoSuchProcess:  # gone already: it claimed nothing
            started = None
        self._drainers.append(_Drainer(process, receiver, started))

    def outcomes(self) -> Iterator[RunOutcome]:
        """Every outcome as it comes, until every worker process has ended; a dead one's run is given back
        (see :meth:`_bury`). A process's end is its sentinel, not its pipe's: a run's own child processes
        may hold the pipe open."""
        while self._drainers:
            waited = [d.receiver for d in self._drainers if d.receiver] + [d.process.sentinel for d in self._drainers]
            ready = multiprocessing.connection.wait(waited)
            for drainer in list(self._drainers):
                if drainer.receiver in ready:
                    yield from self._receive(drainer)
                if drainer.process.sentinel in ready:
                    while drainer.receiver and drainer.receiver.poll():  # what it sent before it ended
                        yield from self._receive(drainer)
                    self._drainers.remove(drainer)
                    yield from self._bury(drainer)

    def _receive(self, drainer: _Drainer) -> list[RunOutcome]:
        try:
            sent = drainer.receiver.recv()
        except (EOFError, OSError, pickle.UnpicklingError):  # its end is closed (or it died mid-send)
            drainer.receiver.close()
            drainer.receiver = None
            return []
        if not isinstance(sent, Exception):
            return [sent]
        self.errors.append(sent)
        if self._keep_waiting:  # the others would wait for ever: they stop too
            self._interrupt()
        return []

    def _bury(self, drainer: _Drainer) -> list[RunOutcome]:
        """A worker process ended. A run it still held goes back to the queue, or is FAILED (its outcome is
        returned); a process that did not end well (killed, or exit status ≠ 0) is replaced."""
        drainer.process.join()
        if drainer.receiver:
            drainer.receiver.close()
        try:
            failed = self._release(drainer)
        except (PyMongoError, TunelabError) as exc:
            self.errors.append(TunelabError(f"worker process {drainer.process.pid} died; its run: {exc}"))
            return []
        if drainer.process.exitcode != 0 and not self._stopping:
            if self._replacements_left:
                self._replacements_left -= 1
                self.start()
            else:
                self.errors.append(
                    TunelabError(
                        f"worker processes keep dying (the last: exit code {drainer.process.exitcode}); "
                        f"see {self._settings.worker_log}"
                    )
                )
        return failed

    def _release(self, drainer: _Drainer) -> list[RunOutcome]:
        """Give back the run ``drainer``'s process held when it ended (matched by host, pid and the process's
        start, so never another machine's or a later process's); the outcomes of those FAILED for good."""
        if drainer.started is None:
            return []
        held = {
            "queue.claim.host": socket.gethostname(),
            "queue.claim.pid": drainer.process.pid,
            "queue.claim.pid_started": drainer.started,
        }
        database = db.connect(self._settings)
        _, failed = queue.release_lost_claims(database, 0.0, self._settings.queue_retries, held)
        found = database.runs.find({"_id": {"$in": failed}}, {"queue": 1, "fail_trace": 1})
        return [
            RunOutcome(
                run["queue"]["experiment"],
                run["queue"].get("config_file"),
                run["_id"],
                "FAILED",
                error=run["fail_trace"][-1],
            )
            for run in found
        ]

    def _interrupt(self) -> None:
        self._stopping = True
        worker_process.pass_interrupt_on(drainer.process for drainer in self._drainers)

    def stop(self) -> list[RunOutcome]:
        """After Ctrl-C (or an error): every worker records its run INTERRUPTED and ends; their last outcomes."""
        if not self._drainers:
            return []
        self._interrupt()
        return list(self.outcomes())


def _drain(sender: Connection, settings: Settings, selector: queue.Selector, keep_waiting: bool) -> None:
    """A :class:`_Drainers` process: claim and run until nothing is left, sending each outcome (or the error)."""
    try:
        worker_process.init_worker(settings.worker_log)
        while (outcome := _claim_and_run(settings, selector, keep_waiting)) is not None:
            sender.send(outcome)
    except TunelabError as exc:  # the parent raises it
        sender.send(exc)
    except Exception as exc:  # noqa: BLE001 - a bug or an outage: its traceback goes to the worker log
        log.exception("worker process %s", os.getpid())
        sender.send(
            TunelabError(f"worker process {os.getpid()}: {type(exc).__name__}: {exc} (see {settings.worker_log})")
        )
    sender.close()


def _pool(settings: Settings, workers: int) -> ProcessPoolExecutor:
    """Worker processes forked from a server process that imported this module once
    (:func:`worker_process.context`)."""
    return worker_process.pool(settings.worker_log, workers, [__name__])


def start_worker_server() -> None:
    """Start the server process worker pools fork from now (it imports tunelab: about a second), so that
    this work overlaps the caller's own until it starts its workers. Idempotent."""
    worker_process.start_server([__name__])


def _in_order(requests: Sequence[RunRequest], outcomes: dict[int, RunOutcome]) -> list[RunOutcome]:
    return [outcomes.get(i) or RunOutcome(r.experiment, r.config_file, None, "SKIPPED") for i, r in enumerate(requests)]


def _run_in_worker(settings: Settings, request: RunRequest, offline: bool) -> RunOutcome:
    if worker_process.interrupted():
        return RunOutcome(request.experiment, request.config_file, None, "SKIPPED")
    with worker_process.run_in_progress():
        return execute(settings, request, offline)


@functools.cache
def _claimer(settings: Settings, selector: queue.Selector) -> queue.Claimer:
    """This worker process's claimer (its code version read once, its candidate runs kept between claims)."""
    return queue.Claimer(db.connect(settings), selector, queue.code_version(settings))


def _claim_and_run(settings: Settings, selector: queue.Selector, keep_waiting: bool) -> RunOutcome | None:
    """In a worker: claim one queued run and run it; None when there is none (and not ``keep_waiting``).

    When nothing is claimable, runs whose worker was lost are given back first.
    """
    claimer = _claimer(settings, selector)
    database = claimer.runs.database
    while not worker_process.interrupted():
        claimed = claimer.claim()
        if claimed is None and queue.release_lost_claims(database, settings.queue_expiry_s, settings.queue_retries)[0]:
            claimed = claimer.claim()
        if claimed is not None:
            return _run_claimed(settings, database, claimed)
        if not keep_waiting:
            return None
        time.sleep(POLL_S)
    return None


def _run_claimed(settings: Settings, database: Database, claimed: dict) -> RunOutcome | None:
    """Run a claimed run; one that Sacred never started goes back to the queue, or FAILED if it cannot start."""
    outcome = None
    try:
        with worker_process.run_in_progress():
            if not worker_process.interrupted():
                outcome = queue.run_claimed(settings, claimed)
    except KeyboardInterrupt:  # before Sacred started the run
        pass
    finally:
        if outcome is None or outcome.run_id is None:
            failure = outcome.error if outcome is not None and outcome.status == "FAILED" else None
            queue.give_back_unstarted(database, claimed, failure)
    if outcome is not None and outcome.run_id is None:
        return replace(outcome, run_id=claimed["_id"]) if outcome.status == "FAILED" else None
    return outcome
