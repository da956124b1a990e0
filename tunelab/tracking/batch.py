"""Batches: many runs in worker processes; failures don't stop the batch, Ctrl-C leaves nothing RUNNING."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from pymongo.database import Database

from tunelab import db
from tunelab.settings import Settings
from tunelab.tracking import liveness, worker_process
from tunelab.tracking.runner import RunOutcome, RunRequest, execute


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
    context = multiprocessing.get_context("spawn")  # no inherited MongoClient or TF state
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=worker_process.init_worker, initargs=(settings.worker_log,)
    )
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


def _in_order(requests: Sequence[RunRequest], outcomes: dict[int, RunOutcome]) -> list[RunOutcome]:
    return [outcomes.get(i) or RunOutcome(r.experiment, r.config_file, None, "SKIPPED") for i, r in enumerate(requests)]


def _run_in_worker(settings: Settings, request: RunRequest, offline: bool) -> RunOutcome:
    if worker_process.interrupted():
        return RunOutcome(request.experiment, request.config_file, None, "SKIPPED")
    with worker_process.run_in_progress():
        return execute(settings, request, offline)
