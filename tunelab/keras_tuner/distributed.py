"""Several workers on one Keras Tuner search, through Keras Tuner's own distributed mode.

This process is the chief: it holds the oracle, serves it over gRPC (the
``OracleServicer`` of ``keras_tuner/src/distribute/``) and tunes itself as
``tuner0``; each other worker is a spawned process whose tuner reaches it
through ``KERASTUNER_TUNER_ID`` (``tuner1``...), ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT``. A worker process that dies (``kill -9``) has its
run marked FAILED and its trial ended FAILED; the others finish the budget.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tunelab import db
from tunelab.errors import TunelabError
from tunelab.keras_tuner.spec import KerasTunerSpec
from tunelab.settings import Settings
from tunelab.tracking import worker_process
from tunelab.tracking.liveness import fail_dead_runs

_POLL_S = 0.2
_STOP_WAIT_S = 60.0  # after Ctrl-C, how long a worker gets to record its run before it is terminated


def parse_address(address: str) -> tuple[str, int]:
    """``HOST[:PORT]`` (port 0 or none: a free one), checked to be listenable; TunelabError otherwise."""
    host, _, port_text = address.partition(":")
    try:
        port = int(port_text or 0)
        with socket.socket() as sock:
            sock.bind((host, port))
            port = sock.getsockname()[1]
    except (ValueError, OverflowError, OSError) as exc:
        raise TunelabError(f"--oracle {address}: the chief cannot listen there ({exc})") from None
    return host, port


def search_failed(spec: KerasTunerSpec, exc: Exception) -> TunelabError:
    """The one-line error of a search Keras Tuner gave up on (``FatalError``, consecutive failed trials)."""
    return TunelabError(f"study {spec.study_name!r}: {str(exc).strip().splitlines()[-1]}")


def search_with_workers(settings: Settings, spec: KerasTunerSpec, workers: int, address: tuple[str, int]) -> None:
    """Search with ``workers`` tuners until the budget is spent: this process's own and ``workers`` - 1 processes.

    This process holds the real oracle, serves it over gRPC and tunes as
    ``tuner0``; the worker processes (``tuner1``...,
    :func:`~tunelab.tracking.worker_process.context`'s) start before it imports
    TensorFlow, so that their imports overlap with its own. Every process's
    TensorFlow gets an equal share of the cores.
    """
    host, port = address
    for variable in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(variable, str(max(1, len(os.sched_getaffinity(0)) // workers)))  # workers inherit it
    # nothing preloaded: starting a process waits for its server's imports, which would delay this one's
    context = worker_process.context([])
    processes = {
        f"tuner{i}": context.Process(target=_worker, args=(settings, spec, f"tuner{i}", host, port))
        for i in range(1, workers)
    }
    for process in processes.values():
        process.start()
    import grpc
    import keras_tuner
    from keras_tuner.src import protos
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    from tunelab.keras_tuner.cli_search import make_tuner

    started = list(processes.values())
    server = grpc.server(ThreadPoolExecutor(max_workers=workers))
    try:
        tuner, search_kwargs = make_tuner(settings, spec)  # no KERASTUNER_* variables here: the real oracle
        tuner.save()  # as Keras Tuner's own chief does: a later command reloads the project from it
        protos.get_service_grpc().add_OracleServicer_to_server(OracleServicer(tuner.oracle), server)
        try:
            server.add_insecure_port(f"{host}:{port}")
        except RuntimeError as exc:
            raise TunelabError(f"--oracle {host}:{port}: the chief cannot listen there ({exc})") from None
        server.start()
        unrecorded: list[Exception] = []  # a lost worker the watcher could not record (the database is down)
        watcher = threading.Thread(
            target=_watch, args=(settings, spec, tuner.oracle, processes, unrecorded), daemon=True
        )
        watcher.start()
        tuner.search(**search_kwargs)
        watcher.join()  # the workers' last trials
        if unrecorded:
            raise TunelabError(f"study {spec.study_name!r}: a lost worker could not be recorded: {unrecorded[0]}")
    except (keras_tuner.errors.FatalError, RuntimeError) as exc:
        raise search_failed(spec, exc) from None
    finally:
        if worker_process.interrupted():  # Ctrl-C reached the workers too: they record their runs and stop
            for process in started:
                process.join(_STOP_WAIT_S)
        for process in started:
            process.terminate()
        server.stop(0)


def _watch(
    settings: Settings, spec: KerasTunerSpec, oracle: Any, processes: dict[str, Any], unrecorded: list[Exception]
) -> None:
    """Until every worker process has exited: one that died loses its trial (:func:`_lose_worker`); an
    error doing so goes to ``unrecorded`` (raised by the chief) instead of ending the watch."""
    while processes:
        time.sleep(_POLL_S)
        for tuner_id, process in list(processes.items()):
            if process.exitcode is None:
                continue
            del processes[tuner_id]
            if process.exitcode != 0 and not worker_process.interrupted():
                try:
                    _lose_worker(settings, spec, oracle, tuner_id, process.exitcode)
                except Exception as exc:  # kept for the chief, which raises it after the search
                    unrecorded.append(exc)


def _lose_worker(settings: Settings, spec: KerasTunerSpec, oracle: Any, tuner_id: str, exitcode: int) -> None:
    """A worker died: its run is FAILED, its trial ended FAILED, and the chief stops waiting for it."""
    reason = f"worker lost: {tuner_id} of {spec.study_name} died (exit code {exitcode})"
    runs = db.connect(settings)["runs"]
    fail_dead_runs(runs, {"info.study": spec.study_name, "info.worker": tuner_id}, 0, reason)
    trial = oracle.ongoing_trials.get(tuner_id)
    if trial is not None:
        trial.status = "FAILED"
        trial.message = reason
        oracle.end_trial(trial)
    oracle.tuner_ids.discard(tuner_id)


def _worker(settings: Settings, spec: KerasTunerSpec, tuner_id: str, host: str, port: int) -> None:
    """A worker process: its tuner asks the chief for trials until the search is over."""
    os.environ.update(KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP=host, KERASTUNER_ORACLE_PORT=str(port))
    worker_process.init_worker(settings.worker_log)
    from tunelab.keras_tuner.cli_search import make_tuner

    tuner, search_kwargs = make_tuner(settings, spec)
    tuner.search(**search_kwargs)
    worker_process.end_process()  # every run recorded: the chief waits for this process to end
