"""Periodic calls (heartbeats) from one daemon thread per :class:`Beats`, rather than a thread per run.

A search's worker runs hundreds of short runs, and each used to start and join
two threads (Sacred's heartbeat and the trial's); on a loaded machine a thread
start costs about a millisecond. Each kind of heartbeat has its own
:class:`Beats`, so that a slow one (Sacred flushing metrics, or waiting out a
database outage) does not delay another (an Optuna trial's, whose silence
gets the trial failed and retried).

A forked child (a user's own ``multiprocessing`` inside a run) starts with no
beats: the parent's runs are the parent's to beat for, and a lock the parent
held at the fork would never be released in the child.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class _Beat:
    fn: Callable[[], None]
    interval: float
    due: float
    running: threading.Lock = field(default_factory=threading.Lock)  # held while ``fn`` runs


class Beats:
    """Functions called every so often, from this object's one daemon thread (started on first use)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._tokens = itertools.count()
        self._start_afresh()
        os.register_at_fork(after_in_child=self._start_afresh)

    def _start_afresh(self) -> None:
        """No beats, no thread (started on first use) and new locks: as made, or in a forked child."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._beats: dict[int, _Beat] = {}
        self._thread: threading.Thread | None = None

    def start(self, interval: float, fn: Callable[[], None]) -> int:
        """Call ``fn`` every ``interval`` seconds, first ``interval`` from now; returns a token for :meth:`stop`."""
        return self._add(_Beat(fn, interval, time.monotonic() + interval))

    def once(self, delay: float, fn: Callable[[], None]) -> int:
        """Call ``fn`` once, ``delay`` seconds from now, unless :meth:`stop` comes first; returns its token."""
        return self._add(_Beat(fn, math.inf, time.monotonic() + delay))

    def _add(self, beat: _Beat) -> int:
        with self._lock:
            token = next(self._tokens)
            self._beats[token] = beat
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
        self._wake.set()
        return token

    def stop(self, token: int) -> None:
        """No more calls for ``token``; waits for a call in progress to end."""
        with self._lock:
            beat = self._beats.pop(token, None)
        if beat is not None:
            with beat.running:  # a call in progress ends first; none starts after
                pass

    def _loop(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                due = [(token, beat) for token, beat in self._beats.items() if beat.due <= now]
            for token, beat in due:
                with beat.running:
                    with self._lock:
                        if token not in self._beats:
                            continue  # stopped meanwhile
                    try:
                        beat.fn()
                    except Exception:  # a beat must not end the thread that beats for every run
                        log.exception("heartbeat %s failed", getattr(beat.fn, "__qualname__", beat.fn))
                    beat.due = time.monotonic() + beat.interval
                if beat.interval == math.inf:
                    with self._lock:
                        self._beats.pop(token, None)
            with self._lock:
                next_due = min((beat.due for beat in self._beats.values()), default=None)
            self._wake.wait(None if next_due is None else max(0.0, next_due - time.monotonic()))
            self._wake.clear()
