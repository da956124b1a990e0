"""Batches: many runs in worker processes; failures don't stop the batch, Ctrl-C leaves nothing RUNNING."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed

from tunelab import db
from tunelab.settings import Settings
from tunelab.tracking.runner import RunOutcome, RunRequest, execute

# Worker-process state: whether a run is going, and whether Ctrl-C arrived.
_in_run = False
_interrupted = False


class BatchInterrupted(Exception):
    """Ctrl-C stopped the batch; ``outcomes`` holds every request's outcome."""

    def __init__(self, outcomes: list[RunOutcome]) -> None:
        super().__init__("batch interrupted")
        self.outcomes = outcomes


def completed_keys(settings: Settings, requests: Sequence[RunRequest]) -> set[str]:
    """The request keys that already have a COMPLETED run in the database."""
    runs = db.connect(settings)["runs"]
    keys = [r.key for r in requests]
    found = runs.find({"info.batch_key": {"$in": keys}, "status": "COMPLETED"}, {"info.batch_key": 1})
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
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker)
    futures: dict[Future, int] = {}
    try:
        futures = {pool.submit(_run_in_worker, settings, r, offline): i for i, r in enumerate(requests)}
        for future in as_completed(futures):
            outcomes[futures[future]] = outcome = future.result()
            on_outcome(outcome)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let the workers record their runs
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGINT)  # in case the signal reached only this process
        pool.shutdown(wait=True, cancel_futures=True)
        for future, index in futures.items():
            if index not in outcomes and future.done() and not future.cancelled():
                outcomes[index] = future.result()
        raise BatchInterrupted(_in_order(requests, outcomes)) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return _in_order(requests, outcomes)


def _in_order(requests: Sequence[RunRequest], outcomes: dict[int, RunOutcome]) -> list[RunOutcome]:
    return [
        outcomes.get(i) or RunOutcome(r.experiment, r.config_file, None, "SKIPPED")
        for i, r in enumerate(requests)
    ]


def _init_worker() -> None:
    """Silence run output (Sacred still captures it) and make Ctrl-C interrupt only a run."""
    sys.stdout = open(os.devnull, "w")
    logging.disable(logging.INFO)  # Sacred's per-run INFO lines would garble the progress bar
    signal.signal(signal.SIGINT, _on_sigint)


def _on_sigint(signum, frame) -> None:
    global _interrupted
    first = not _interrupted
    _interrupted = True
    if _in_run and first:
        raise KeyboardInterrupt


def _run_in_worker(settings: Settings, request: RunRequest, offline: bool) -> RunOutcome:
    global _in_run
    if _interrupted:
        return RunOutcome(request.experiment, request.config_file, None, "SKIPPED")
    _in_run = True
    try:
        return execute(settings, request, offline)
    finally:
        _in_run = False
