"""Fixes for Sacred 0.8.7's run loop, which loses output and metrics under load, and starts a thread per run.

* Sacred tees ``sys.stdout`` into one ``StringIO`` that the run's thread writes
and the heartbeat thread reads with ``seek(last); read(); tell()``. A write
that comes between the seek and the read lands at the read position and
  overwrites output not read yet (20 MB printed lost 350 KB). :class:`TeeBuffer`
  keeps its read position apart from the end that writes append to, under a lock.
* At the end of a run Sacred waits only 2 s for the heartbeat thread's last
  beat, which flushes the metrics logged since the previous one, and then
  saves the run as finished: points logged at the end (350,000 of 500,000)
  were stored after the final save, or never. :func:`install` makes it wait
  for that beat.
* Sacred starts a heartbeat thread for each run; a search's short runs beat
  from one thread per process instead (:mod:`tunelab.tracking.beats`). The
  last beat runs in the run's own thread, once the periodic ones have stopped.
* An observer with a ``run_started(run)`` method gets the run once every
  observer has seen it start (tunelab's MongoDB observer keeps ``run._id``
  right when its background insert had to move the run to another id).
* ``Experiment.__init__`` takes its caller's globals from ``inspect.stack()``,
  which reads the source lines of every frame (0.1 s in a fresh process, a
  worker's first run): :class:`CallerFrames` gives the same frames without them.
"""

from __future__ import annotations

import inspect
import io
import sys
import threading
from typing import Any

import sacred.experiment
import sacred.run
import sacred.stdout_capturing

from tunelab.tracking.beats import Beats

_BEATS = Beats("sacred-heartbeats")


class TeeBuffer(io.StringIO):
    """A StringIO whose writes always append and whose ``seek``/``read``/``tell`` move a separate read cursor."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._read_at = 0

    def write(self, text: str) -> int:
        with self._lock:
            super().seek(0, io.SEEK_END)
            return super().write(text)

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        self._read_at = position if whence == io.SEEK_SET else self._read_at + position
        return self._read_at

    def read(self, size: int | None = -1) -> str:
        with self._lock:
            super().seek(self._read_at)
            text = super().read(size)
            self._read_at = super().tell()
            return text

    def tell(self) -> int:
        return self._read_at


_SACRED_EMIT_STARTED = sacred.run.Run._emit_started


def _emit_started(run: sacred.run.Run) -> None:
    """Sacred's ``Run._emit_started``, then each observer's ``run_started(run)`` if it has one."""
    _SACRED_EMIT_STARTED(run)
    for observer in run.observers:
        if hasattr(observer, "run_started"):
            observer.run_started(run)


def _start_heartbeat(run: sacred.run.Run) -> None:
    """Sacred's ``Run._start_heartbeat`` on the process's beat thread (``run._heartbeat`` is its token)."""
    if run.beat_interval > 0:
        run._heartbeat = _BEATS.start(run.beat_interval, run._emit_heartbeat)


def _stop_heartbeat(run: sacred.run.Run) -> None:
    """Sacred's ``Run._stop_heartbeat``: no more periodic beats, then the last one, with no time limit."""
    if run._heartbeat is not None:
        _BEATS.stop(run._heartbeat)
        run._heartbeat = None
        run._emit_heartbeat()


class CallerFrames:
    """``inspect`` for ``sacred.experiment``, whose ``stack()`` leaves out each frame's source lines (and file
    lookup); the rest is ``inspect``'s own."""

    @staticmethod
    def stack(context: int = 1) -> list[inspect.FrameInfo]:
        frames = []
        frame = sys._getframe(1)
        while frame is not None:
            code = frame.f_code
            frames.append(inspect.FrameInfo(frame, code.co_filename, frame.f_lineno, code.co_name, None, None))
            frame = frame.f_back
        return frames

    def __getattr__(self, name: str) -> Any:
        return getattr(inspect, name)


def install() -> None:
    """Apply the fixes (Sacred's ``"sys"`` capture builds its buffer with the module's ``StringIO()``)."""
    sacred.stdout_capturing.StringIO = TeeBuffer
    sacred.run.Run._emit_started = _emit_started
    sacred.run.Run._start_heartbeat = _start_heartbeat
    sacred.run.Run._stop_heartbeat = _stop_heartbeat
    sacred.experiment.inspect = CallerFrames()
