"""Running a search: check everything, start the engine's worker processes, report progress.

``prepare_search`` then ``run_search`` is what ``tunelab tune`` does. Workers
are processes, not threads (trials are CPU-bound); they are spawned, so none
inherits a database client.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunelab.keras_tuner import cli_search
from tunelab.keras_tuner.distributed import parse_address
from tunelab.keras_tuner.spec import is_hypermodel_spec, load_hypermodel_spec
from tunelab.settings import Settings
from tunelab.tracking import worker_process
from tunelab.tuning import keras_tuner_projects, optuna_engine
from tunelab.tuning.optuna_engine import TrialCounts
from tunelab.tuning.spec import SearchSpec, load_search_spec

_POLL_S = 0.5


@dataclass(frozen=True)
class Search:
    """A checked search: its spec, one job per worker process, and how to count its trials."""

    spec: SearchSpec
    jobs: list[tuple[Callable[..., int], Any]]
    counts: Callable[[], TrialCounts]


def prepare_search(
    settings: Settings, spec_path: Path, storage_url: str | None = None, workers: int = 1, oracle: str = "127.0.0.1"
) -> Search:
    """Check the spec, the storage and the database, and create the study; TunelabError if anything is wrong.

    ``oracle`` (``HOST[:PORT]``) is where the chief of a Keras Tuner hypermodel search with workers listens.
    """
    if is_hypermodel_spec(spec_path):  # a Keras Tuner hypermodel of one's own (tunelab.keras_tuner.spec)
        spec = load_hypermodel_spec(settings, spec_path)
        keras_tuner_projects.check(settings, spec, storage_url, 1)
        address = parse_address(oracle) if workers > 1 else None
        jobs = [(cli_search.run_search, settings, spec, workers, address)]
        return Search(spec, jobs, lambda: keras_tuner_projects.count_trials(settings, spec.study_name))
    return prepare_spec_search(settings, load_search_spec(settings, spec_path), storage_url, workers)


def prepare_spec_search(
    settings: Settings, spec: SearchSpec, storage_url: str | None = None, workers: int = 1
) -> Search:
    """:func:`prepare_search` for a spec already loaded (and perhaps adjusted, as pipeline stages do)."""
    if spec.engine == "optuna":
        storage = optuna_engine.check(settings, spec, storage_url)
        study = optuna_engine.open_study(spec, storage)  # created once, before the workers race to
        jobs = [(optuna_engine.run_worker, settings, spec, storage_url, i) for i in range(workers)]
        return Search(spec, jobs, lambda: optuna_engine.count_trials(study))
    keras_tuner_projects.check(settings, spec, storage_url, workers)
    jobs = [(keras_tuner_projects.run_search, settings, spec)]
    return Search(spec, jobs, lambda: keras_tuner_projects.count_trials(settings, spec.study_name))


def run_search(
    settings: Settings, search: Search, on_progress: Callable[[TrialCounts], None] = lambda counts: None
) -> TrialCounts:
    """Run (or continue) the search in its worker processes; returns the final trial counts.

    A worker's TunelabError is raised here. Ctrl-C propagates as
    KeyboardInterrupt once the workers have recorded their runs.
    """
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        len(search.jobs), mp_context=context, initializer=worker_process.init_worker, initargs=(settings.worker_log,)
    )
    try:
        pending = {pool.submit(*job) for job in search.jobs}
        while pending:
            done, pending = wait(pending, timeout=_POLL_S, return_when=FIRST_EXCEPTION)
            on_progress(search.counts())
            for future in done:
                future.result()
    except KeyboardInterrupt:
        worker_process.stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return search.counts()
