"""Running a search: pick its engine, check it, start its worker processes, report progress.

``prepare_search`` then ``run_search`` is what ``tunelab tune`` does. Workers
are processes, not threads (trials are CPU-bound), forked from a server that
imported this module (:func:`~tunelab.tracking.worker_process.context`), so
none inherits a database client. Nothing here knows one engine from another:
they keep the :class:`~tunelab.tuning.engines.SearchEngine` contract.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, wait
from dataclasses import dataclass
from pathlib import Path

from tunelab.keras_tuner.spec import is_hypermodel_spec, load_hypermodel_spec
from tunelab.settings import Settings
from tunelab.tracking import worker_process
from tunelab.tuning.engines import Job, SearchEngine, TrialCounts
from tunelab.tuning.keras_tuner_projects import KerasTunerSearch
from tunelab.tuning.objectives import ObjectiveSearch
from tunelab.tuning.optuna_engine import SpecSearch
from tunelab.tuning.spec import ObjectiveSpec, SearchSpec, load_search_spec

_POLL_S = 0.5


@dataclass(frozen=True)
class Search:
    """A checked search: its engine and one job per worker process."""

    engine: SearchEngine
    jobs: list[Job]


def prepare_search(
    settings: Settings, spec_path: Path, storage_url: str | None = None, workers: int = 1, oracle: str = "127.0.0.1"
) -> Search:
    """Check the spec, the storage and the database, and create the study; TunelabError if anything is wrong.

    ``oracle`` (``HOST[:PORT]``) is where the chief of a Keras Tuner hypermodel search with workers listens.
    """
    if is_hypermodel_spec(spec_path):  # a Keras Tuner hypermodel of one's own (tunelab.keras_tuner.spec)
        spec = load_hypermodel_spec(settings, spec_path)
        return _checked(KerasTunerSearch(settings, spec, storage_url, oracle), workers)
    return prepare_spec_search(settings, load_search_spec(settings, spec_path), storage_url, workers, oracle)


def prepare_spec_search(
    settings: Settings,
    spec: SearchSpec | ObjectiveSpec,
    storage_url: str | None = None,
    workers: int = 1,
    oracle: str = "127.0.0.1",
) -> Search:
    """:func:`prepare_search` for a spec already loaded (or built, as ``tunelab tune FILE.py:FUNCTION`` does)."""
    if isinstance(spec, ObjectiveSpec):
        engine: SearchEngine = ObjectiveSearch(settings, spec, storage_url)
    elif spec.engine == "keras-tuner":
        engine = KerasTunerSearch(settings, spec, storage_url, oracle)
    else:
        engine = SpecSearch(settings, spec, storage_url)
    return _checked(engine, workers)


def _checked(engine: SearchEngine, workers: int) -> Search:
    engine.check(workers)
    return Search(engine, engine.jobs(workers))


def start_worker_server() -> None:
    """Start the server process the search's workers fork from now (it imports tunelab's engines: about a
    second), so that this work overlaps the caller's own until :func:`run_search`. Idempotent."""
    worker_process.start_server([__name__])


def run_search(
    settings: Settings, search: Search, on_progress: Callable[[TrialCounts], None] = lambda counts: None
) -> TrialCounts:
    """Run (or continue) the search in its worker processes; returns the final trial counts.

    A worker's TunelabError is raised here. Ctrl-C propagates as
    KeyboardInterrupt once the workers have recorded their runs.
    """
    pool = worker_process.pool(settings.worker_log, len(search.jobs), [__name__])
    try:
        pending = {pool.submit(*job) for job in search.jobs}
        while pending:
            done, pending = wait(pending, timeout=_POLL_S, return_when=FIRST_EXCEPTION)
            on_progress(search.engine.counts())
            for future in done:
                future.result()
    except KeyboardInterrupt:
        worker_process.stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return search.engine.counts()
