"""A local SecantusDB server (MongoDB wire protocol) managed through a pid file."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from tunelab.db._client import ping
from tunelab.errors import TunelabError
from tunelab.processes import PidFile, port_in_use, spawn, tail, wait_until

SERVER_COMMAND = "secantusd-py"


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    port: int
    url: str


class EmbeddedServer:
    """One SecantusDB process per state directory, bound to 127.0.0.1.

    Files under ``state_dir``: ``db/`` (WiredTiger data), ``db.pid`` (JSON with
    pid and port), ``db.log`` (server output), ``db.lock`` (serialises starts).
    The server runs with ``--sync-on-commit``: without it a ``kill -9`` loses
    acknowledged writes.
    """

    def __init__(self, state_dir: Path, port: int) -> None:
        self.state_dir = state_dir
        self.port = port
        self.storage_dir = state_dir / "db"
        self.pid_file = PidFile(state_dir / "db.pid", SERVER_COMMAND)
        self.log_file = state_dir / "db.log"
        self.config_file = state_dir / "secantusd.toml"

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def status(self) -> ServerStatus:
        pid = self._running_pid()
        return ServerStatus(running=pid is not None, pid=pid, port=self.port, url=self.url)

    def start(self, timeout: float = 60.0) -> bool:
        """Start the server unless it is already running; wait until it answers a ping.

        Returns True if this call started it. Raises TunelabError if the port is
        held by another program or the server does not come up.
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(self.state_dir / "db.lock"):
            if self._running_pid() is not None:
                ping(self.url, timeout=timeout)
                return False
            if self.pid_file.path.exists():  # our server died: give the kernel a moment to free its port
                wait_until(lambda: not port_in_use(self.port), timeout=3.0)
            if port_in_use(self.port):
                raise TunelabError(
                    f"port {self.port} on 127.0.0.1 is held by another program, not tunelab's "
                    "database; pick another with TUNELAB_DB_PORT or [database] port in tunelab.toml"
                )
            process = self._spawn()
            self.pid_file.write(process.pid, port=self.port)
            self._wait_until_up(process, timeout)
            return True

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout``). True if it was running."""
        return self.pid_file.stop(timeout)

    def _spawn(self) -> subprocess.Popen:
        # An explicit (empty) config file stops the server from picking up a
        # secantusd.toml from the cwd or the user's home.
        self.config_file.touch()
        command = [
            _server_executable(),
            "--config",
            str(self.config_file),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            str(self.storage_dir),
            "--sync-on-commit",
            "--log-level",
            "WARNING",
        ]
        return spawn(command, self.log_file)

    def _wait_until_up(self, process: subprocess.Popen, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_file.path.unlink(missing_ok=True)
                raise TunelabError(
                    f"the embedded database exited with status {process.returncode} on start; "
                    f"last lines of {self.log_file}: {tail(self.log_file)}"
                )
            if port_in_use(self.port):
                ping(self.url, timeout=max(1.0, deadline - time.monotonic()))
                return
            time.sleep(0.05)
        process.kill()
        self.pid_file.path.unlink(missing_ok=True)
        raise TunelabError(f"the embedded database did not answer within {timeout:.0f} s; see {self.log_file}")

    def _running_pid(self) -> int | None:
        record = self.pid_file.running()
        return None if record is None else record["pid"]


def _server_executable() -> str:
    beside_python = Path(sys.executable).parent / SERVER_COMMAND
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(SERVER_COMMAND)
    if found is None:
        raise TunelabError(f"{SERVER_COMMAND} not found: install tunelab's dependencies (pip install secantusdb)")
    return found
