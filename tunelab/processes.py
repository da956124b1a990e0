"""Background processes tunelab starts and finds again through a pid file: the database, Omniboard."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil


class PidFile:
    """A JSON file holding a background process's pid and facts about it (port, url…).

    The process counts as running only if it is alive and its command line
    contains ``marker``, so a recycled pid is never mistaken for ours.
    """

    def __init__(self, path: Path, marker: str) -> None:
        self.path = path
        self.marker = marker

    def running(self) -> dict[str, Any] | None:
        """The record (with ``pid``) if the process is running, else None."""
        try:
            record = json.loads(self.path.read_text())
            pid = int(record["pid"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None
        if not alive(pid) or self.marker not in " ".join(_cmdline(pid)):
            return None
        return record

    def write(self, pid: int, **facts: Any) -> None:
        self.path.write_text(json.dumps({"pid": pid, **facts}))

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM, then SIGKILL after ``timeout``; True if the process was running."""
        record = self.running()
        if record is None:
            self.path.unlink(missing_ok=True)
            return False
        pid = record["pid"]
        os.kill(pid, signal.SIGTERM)
        if not wait_until(lambda: not alive(pid), timeout):
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not alive(pid), timeout)
        self.path.unlink(missing_ok=True)
        return True


def spawn(command: Sequence[str], log_file: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """Start ``command`` in its own session (it outlives the caller), output appended to ``log_file``."""
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def alive(pid: int) -> bool:
    """True if ``pid`` runs; a zombie (dead, not yet reaped) counts as dead."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def tail(path: Path, lines: int = 3) -> str:
    """The last lines of a log, joined with `` | `` for a one-line error."""
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _cmdline(pid: int) -> list[str]:
    try:
        return psutil.Process(pid).cmdline()
    except psutil.Error:
        return []
