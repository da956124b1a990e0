"""The state of a worker process (batch or search): output silenced, Ctrl-C interrupts only a run.

The parent shares the terminal's process group, so Ctrl-C reaches every
worker. A worker turns the first SIGINT into a KeyboardInterrupt only while a
run is going (Sacred then records it as INTERRUPTED) and otherwise just
remembers it, so it starts nothing new.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from pathlib import Path

_in_run = False
_interrupted = False


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
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for child in multiprocessing.active_children():
        os.kill(child.pid, signal.SIGINT)  # in case the signal reached only the parent
    pool.shutdown(wait=True, cancel_futures=True)


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
