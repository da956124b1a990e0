"""Batches: many runs in worker processes; failures don't stop the batch, Ctrl-C leaves nothing RUNNING.

Online, worker processes claim runs from the queue (:mod:`tunelab.tracking.queue`),
so processes on other machines can share the work; offline, each request is
handed to a worker directly.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, as_completed, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from pymongo.database import Database

from tunelab import db
from tunelab.settings import Settings
from tunelab.tracking import liveness, queue, worker_process
from tunelab.tracking.runner import RunOutcome, RunRequest, execute

POLL_S = 1.0  # how often a waiting worker looks at the queue again


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
    Raises BatchInterrupted on Ctrl-C, after the runs that were going have been
    recorded as INTERRUPTED (runs not claimed stay QUEUED).
    """
    outcomes: list[RunOutcome] = []
    pool = _pool(settings, workers)
    active: set[Future] = set()
    try:
        active = {pool.submit(_claim_and_run, settings, selector, keep_waiting) for _ in range(workers)}
        while active:
            done, active = wait(active, return_when=FIRST_COMPLETED)
            for future in done:
                outcome = future.result()
                if outcome is not None:  # this process found work; it looks again
                    outcomes.append(outcome)
                    on_outcome(outcome)
                    active.add(pool.submit(_claim_and_run, settings, selector, keep_waiting))
    except BrokenProcessPool:  # a worker was killed (the OOM killer): the pool stops every worker
        outcomes += _killed_runs(settings)
    except KeyboardInterrupt:
        worker_process.stop_workers(pool)
        outcomes += [f.result() for f in active if f.done() and not f.cancelled() and f.result() is not None]
        raise BatchInterrupted(outcomes) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return outcomes


def _killed_runs(settings: Settings) -> list[RunOutcome]:
    """The runs a broken pool's workers left RUNNING, marked FAILED now (their processes are gone)."""
    database = db.connect(settings)
    failed = liveness.sweep(database, settings.failed_saves_dir, silent_for_s=0.0).failed
    found = database.runs.find({"_id": {"$in": list(failed)}}, {"experiment.name": 1, "queue.config_file": 1})
    return [
        RunOutcome(
            run["experiment"]["name"],
            run.get("queue", {}).get("config_file"),
            run["_id"],
            "FAILED",
            error=failed[run["_id"]],
        )
        for run in found
    ]


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
