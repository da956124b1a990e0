"""Worker processes (batch or search): how they start, and their state: output silenced, Ctrl-C interrupts only a run.

They are forked from a server process that imported the modules they need
once, and they do not run the parent's main script again (:func:`context`).
The parent shares the terminal's process group, so Ctrl-C reaches every
worker. A worker turns the first SIGINT into a KeyboardInterrupt only while a
run is going (Sacred then records it as INTERRUPTED) and otherwise just
remembers it, so it starts nothing new.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import logging
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import multiprocessing.process
import os
import signal
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import popen_forkserver, reduction, spawn, util
from multiprocessing.context import set_spawning_popen
from pathlib import Path

_in_run = False
_interrupted = False


def context(preload: Iterable[str]) -> multiprocessing.context.BaseContext:
    """The context of worker processes: forked from this process's one server process, never from this process
    (no inherited MongoClient, thread or TensorFlow state), and without this process's main script.

    The server starts with the first worker (or :func:`start_server`) and imports ``preload`` then, once for
    every worker it forks (a module a worker's function lives in: a second of Sacred, pandas and pydantic that
    each spawned worker paid again); a server already running keeps the modules it imported.
    """
    _CONTEXT.set_forkserver_preload(list(preload))
    return _CONTEXT


def start_server(preload: Iterable[str]) -> None:
    """Start :func:`context`'s server now, so that its imports overlap the caller's own work. Idempotent."""
    context(preload)
    multiprocessing.forkserver.ensure_running()


def pool(stderr_log: Path, workers: int, preload: Iterable[str]) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes of :func:`context`, each set up by :func:`init_worker`."""
    return ProcessPoolExecutor(workers, mp_context=context(preload), initializer=init_worker, initargs=(stderr_log,))


def init_worker(stderr_log: Path) -> None:
    """Process initializer: silence run output (Sacred still captures it), install the SIGINT rule.

    The process's stderr (library noise such as TensorFlow's) is appended to ``stderr_log``.
    """
    sys.stdout = open(os.devnull, "w")
    stderr_log.parent.mkdir(parents=True, exist_ok=True)
    with open(stderr_log, "a") as log:
        os.dup2(log.fileno(), 2)
    # Sacred's per-run INFO lines and its config-type warnings (pydantic checks types) would garble the bar
    logging.disable(logging.WARNING)
    signal.signal(signal.SIGINT, _on_sigint)


def interrupted() -> bool:
    """Whether Ctrl-C reached this worker."""
    return _interrupted


@contextmanager
def run_in_progress() -> Iterator[None]:
    """Marks the span in which Ctrl-C interrupts the run."""
    global _in_run
    _in_run = True
    try:
        yield
    finally:
        _in_run = False


def stop_workers(pool: Executor) -> None:
    """In the parent, after Ctrl-C: make sure every worker saw it, then wait for them to record their runs."""
    pass_interrupt_on()
    pool.shutdown(wait=True, cancel_futures=True)


def pass_interrupt_on(children: Iterable[multiprocessing.process.BaseProcess] | None = None) -> None:
    """In the parent, after Ctrl-C: ignore any further one, and make sure every worker (``children``, by
    default every child process) saw it: it may have reached only the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for child in multiprocessing.active_children() if children is None else children:
        with contextlib.suppress(ProcessLookupError):  # ended meanwhile
            os.kill(child.pid, signal.SIGINT)


def end_process() -> None:
    """End this worker process at once, exit status 0: for a process whose work is done and recorded.

    Python's own exit would run the atexit handlers and tear the interpreter
    down, which with TensorFlow loaded takes seconds of C++ destructors and
    thread pools after the last line of Python (measured: 1 to 3 s), time the
    parent spends waiting for the process to end. The standard streams are
    flushed first.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or gone: nothing left to lose
            pass
    os._exit(0)


def end_process_at_exit() -> None:
    """When this worker process exits, :func:`end_process` instead of Python's teardown.

    For a pool process whose one job has succeeded: it must first send its
    result and be told to stop, and then has nothing left to do. Registered
    last, the handler runs before every other atexit handler. Only in a child
    process: in the main process it would hide the exit status.
    """
    if multiprocessing.parent_process() is not None:
        atexit.register(end_process)


def _on_sigint(signum, frame) -> None:
    global _interrupted
    first = not _interrupted
    _interrupted = True
    if _in_run and first:
        raise KeyboardInterrupt


class _WorkerPopen(popen_forkserver.Popen):
    """The forkserver's ``Popen``, less the main module: ``multiprocessing`` has each child run the parent's
    main script again (as ``__mp_main__``) so that functions defined there unpickle; a worker runs
    tunelab's functions only, and the ``tunelab`` script's import of every command (Optuna, plotly: 2.4 s
    per worker) bought it nothing. ``_launch`` is Python 3.11's, with that one change."""

    def _launch(self, process_obj: multiprocessing.process.BaseProcess) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        for key in ("init_main_from_path", "init_main_from_name"):
            prep_data.pop(key, None)
        buf = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            set_spawning_popen(None)
        self.sentinel, w = multiprocessing.forkserver.connect_to_new_process(self._fds)
        # a duplicate of the data pipe's write end: the child's sentinel of this process
        parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, util.close_fds, (parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = multiprocessing.forkserver.read_signed(self.sentinel)


class _WorkerProcess(multiprocessing.context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: multiprocessing.process.BaseProcess) -> _WorkerPopen:
        return _WorkerPopen(process_obj)


class _WorkerContext(multiprocessing.context.ForkServerContext):
    Process = _WorkerProcess


_CONTEXT = _WorkerContext()
