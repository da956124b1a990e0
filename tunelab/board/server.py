"""One Omniboard process per state directory, on 127.0.0.1 unless asked otherwise.

Files under ``<state>/board/``: ``board.pid`` (pid, url, host, port,
databases), ``board.log`` (Omniboard's output) and ``omniboard.json``, the
database list Omniboard reads through ``OMNIBOARD_CONFIG`` (plain JSON, mode
0600: it may hold a MongoDB password). Omniboard cannot choose its listen
address, checks no Host and answers every Origin; ``preload.js`` pins the
address, refuses a request whose Host is not one the board serves or whose
Origin is another site, and passes ``--auth`` from the environment (never argv).
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from urllib3.util import make_headers

from tunelab.board.install import node_executable
from tunelab.errors import TunelabError
from tunelab.processes import PidFile, port_in_use, spawn, tail, wait_until

PRELOAD = Path(__file__).with_name("preload.js")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class BoardStatus:
    pid: int
    url: str
    host: str
    port: int
    databases: list[str]


class Board:
    """Start, find and stop the Omniboard process of a tunelab state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.directory = state_dir / "board"
        self.pid_file = PidFile(self.directory / "board.pid", marker=str(PRELOAD))
        self.log_file = self.directory / "board.log"
        self.config_file = self.directory / "omniboard.json"

    def status(self) -> BoardStatus | None:
        record = self.pid_file.running()
        if record is None:
            return None
        return BoardStatus(record["pid"], record["url"], record["host"], record["port"], record["databases"])

    def start(
        self,
        entry_point: Path,
        mongo_url: str,
        databases: list[str],
        host: str = "127.0.0.1",
        port: int = 9000,
        auth: tuple[str, str] | None = None,
        timeout: float = 90.0,
    ) -> BoardStatus:
        """Start Omniboard over ``databases`` on ``mongo_url`` and wait until its API answers.

        Raises TunelabError if a board already runs, the port is taken, or Omniboard does not come up.
        """
        running = self.status()
        if running is not None:
            raise TunelabError(
                f"Omniboard already runs at {running.url} (pid {running.pid}); `tunelab board --stop` first"
            )
        if port_in_use(port, _probe_host(host)):
            raise TunelabError(f"port {port} on {host} is taken; choose another with --port")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write_config(mongo_url, databases)
        command = [node_executable(), "-r", str(PRELOAD), str(entry_point)]
        env = {**os.environ, "PORT": str(port), "OMNIBOARD_CONFIG": str(self.config_file), "TUNELAB_BOARD_HOST": host}
        if auth is not None:  # the preload hands it to Omniboard: on the command line, `ps` would show it
            env["TUNELAB_BOARD_CREDENTIALS"] = f"{auth[0]}:{auth[1]}:{secrets.token_hex(16)}"
        process = spawn(command, self.log_file, env)
        url = f"http://{_url_host(_probe_host(host))}:{port}/{urllib.parse.quote(databases[0])}"
        self.pid_file.write(process.pid, url=url, host=host, port=port, databases=databases)
        api = f"http://{_url_host(_probe_host(host))}:{port}/{urllib.parse.quote(databases[0])}/api/v1/Runs/count"
        if not wait_until(lambda: process.poll() is not None or _answers(api, auth), timeout):
            self.pid_file.stop()
            raise TunelabError(f"Omniboard did not answer within {timeout:.0f} s; see {self.log_file}")
        if process.poll() is not None:
            self.pid_file.path.unlink(missing_ok=True)
            raise TunelabError(f"Omniboard exited with status {process.returncode}: {tail(self.log_file)}")
        return self.status()

    def stop(self) -> bool:
        """Stop the board; True if one was running."""
        return self.pid_file.stop()

    def _write_config(self, mongo_url: str, databases: list[str]) -> None:
        config = {name: {"mongodbURI": _with_database(mongo_url, name), "path": f"/{name}"} for name in databases}
        self.config_file.touch(mode=0o600)
        self.config_file.write_text(json.dumps(config, indent=2))


def _with_database(mongo_url: str, database: str) -> str:
    """``mongodb://host:port/?opts`` -> ``mongodb://host:port/<database>?opts``."""
    parts = urllib.parse.urlsplit(mongo_url)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{database}"))


def _probe_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _answers(url: str, auth: tuple[str, str] | None) -> bool:
    headers = make_headers(basic_auth=":".join(auth)) if auth is not None else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def is_loopback(host: str) -> bool:
    return host in LOOPBACK


def parse_auth(text: str) -> tuple[str, str]:
    """``"user:password"`` -> ``("user", "password")``; Omniboard allows no ``:`` inside either."""
    user, sep, password = text.partition(":")
    if not sep or not user or not password or ":" in password:
        raise TunelabError("--auth: expected USER:PASSWORD (neither may contain ':')")
    return user, password
