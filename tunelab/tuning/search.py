"""Running a search: check everything, start the engine's worker processes, report progress.

``tune`` is what ``tunelab tune`` calls. Workers are processes, not threads
(trials are CPU-bound); they are spawned, so none inherits a database client.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from pathlib import Path

from tunelab.settings import Settings
from tunelab.tracking import worker_process
from tunelab.tuning import keras_tuner_projects, optuna_engine
from tunelab.tuning.optuna_engine import TrialCounts
from tunelab.tuning.spec import SearchSpec, load_search_spec

_POLL_S = 0.5


def tune(
    settings: Settings,
    spec_path: Path,
    storage_url: str | None = None,
    workers: int = 1,
    on_progress: Callable[[SearchSpec, TrialCounts], None] = lambda spec, counts: None,
) -> tuple[SearchSpec, TrialCounts]:
    """Run (or continue) the search ``spec_path`` describes; returns the spec and the final counts.

    Every user mistake raises TunelabError before a worker starts. Ctrl-C
    propagates as KeyboardInterrupt once the workers have recorded their runs.
    """
    spec = load_search_spec(settings, spec_path)
    if spec.engine == "optuna":
        storage = optuna_engine.check(settings, spec, storage_url)
        study = optuna_engine.open_study(spec, storage)  # created once, before the workers race to
        counts: Callable[[], TrialCounts] = lambda: optuna_engine.count_trials(study)  # noqa: E731
        jobs = [(optuna_engine.run_worker, settings, spec, storage_url, i) for i in range(workers)]
    else:
        from tunelab.tuning import keras_tuner_engine  # imports TensorFlow: only when needed

        keras_tuner_engine.check(settings, spec, storage_url, workers)
        counts = lambda: keras_tuner_projects.count_trials(settings, spec.study_name)  # noqa: E731
        jobs = [(keras_tuner_engine.run_worker, settings, spec)]
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(len(jobs), mp_context=context, initializer=worker_process.init_worker)
    try:
        futures = [pool.submit(*job) for job in jobs]
        pending = futures
        while pending:
            done, pending = wait(pending, timeout=_POLL_S, return_when=FIRST_EXCEPTION)
            on_progress(spec, counts())
            for future in done:
                future.result()  # a worker's TunelabError stops the search here
    except KeyboardInterrupt:
        worker_process.stop_workers(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return spec, counts()
