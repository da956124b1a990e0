"""Heartbeats from one thread per kind: calls come every interval, stop waits, one slow kind delays no other."""

from __future__ import annotations

import os
import threading
import time

from tunelab.tracking.beats import Beats


def test_a_blocked_beat_delays_no_other_kind_and_stop_waits_for_it():
    slow, fast = Beats("test-slow"), Beats("test-fast")
    release, fast_calls = threading.Event(), []
    blocked = slow.start(0.05, lambda: release.wait(60))
    counting = fast.start(0.05, lambda: fast_calls.append(time.monotonic()))
    deadline = time.monotonic() + 30  # generous: a loaded machine may run the beat thread late
    while len(fast_calls) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    fast.stop(counting)
    assert len(fast_calls) >= 4  # every 0.05 s, while the other kind's beat is stuck

    stopper = threading.Thread(target=slow.stop, args=(blocked,))
    stopper.start()
    stopper.join(0.2)
    assert stopper.is_alive()  # stop waits for the call in progress
    release.set()
    stopper.join(5)
    assert not stopper.is_alive()
    after = len(fast_calls)
    time.sleep(0.15)
    assert len(fast_calls) == after  # no call after stop


def test_a_forked_child_beats_only_for_its_own_runs():
    beats, parent_calls = Beats("test-fork"), []
    beats.start(0.05, lambda: parent_calls.append(1))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's beat is not called here, its own beat is
        code = 1
        try:
            parent_calls.clear()
            beats.start(0.05, lambda: os.write(write, b"x"))
            time.sleep(0.5)
            code = 0 if not parent_calls else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        child_beats = pipe.read()
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_beats  # a new thread beats in the child


def test_a_call_once_comes_once_after_its_delay_and_not_at_all_if_stopped_first():
    beats, calls = Beats("test-once"), []
    start = time.monotonic()
    beats.once(0.1, lambda: calls.append(time.monotonic() - start))
    stopped = beats.once(0.1, lambda: calls.append("stopped"))
    beats.stop(stopped)
    deadline = time.monotonic() + 30
    while not calls and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.25)
    assert len(calls) == 1 and calls[0] >= 0.1
