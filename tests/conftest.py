"""Fixtures: a real SecantusDB server for the session, and an isolated tunelab environment per test."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pymongo
import pytest
from pymongo.database import Database

from tunelab.db import EmbeddedServer
from tunelab.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]

# The Ctrl-C tests send SIGINT to tunelab commands. A shell that starts pytest in its background without job
# control leaves SIGINT ignored, and every command started here would inherit that and never see it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
CHROMIUM = "/usr/bin/chromium"  # Debian's package; scripts/test installs it
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--virtual-time-budget=20000",
    "--window-size=1600,1000",
    "--enable-logging=stderr",
    "--v=0",
]
TEST_PROJECT = Path(__file__).resolve().parent / "project"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory) -> str:
    """One real SecantusDB server for the whole session (each test gets its own database)."""
    server = EmbeddedServer(tmp_path_factory.mktemp("mongo"), free_port())
    server.start()
    yield server.url
    server.stop()


@dataclass
class TunelabEnv:
    """What a test needs: the settings, the database its runs land in, and a CLI runner."""

    settings: Settings
    database: Database
    env: dict[str, str]

    def cli(self, *args: str, project: Path = REPO, timeout: float = 120) -> subprocess.CompletedProcess:
        env = {**self.env, "TUNELAB_PROJECT_DIR": str(project)}
        return subprocess.run(
            [sys.executable, "-m", "tunelab", *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(self, *args: str, project: Path = REPO, env: Mapping[str, str] | None = None) -> subprocess.Popen:
        """``tunelab ARGS`` started in its own process group (for ``os.killpg``), its output piped;
        ``env`` adds or overrides environment variables."""
        return subprocess.Popen(
            [sys.executable, "-m", "tunelab", *args],
            cwd=project,
            env={**self.env, "TUNELAB_PROJECT_DIR": str(project), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def python_command(self) -> list[str]:
        return [sys.executable]

    def python(self, *args: str, project: Path = REPO, timeout: float = 120) -> subprocess.CompletedProcess:
        env = {**self.env, "TUNELAB_PROJECT_DIR": str(project)}
        return subprocess.run(
            [sys.executable, *args], cwd=project, env=env, capture_output=True, text=True, timeout=timeout
        )


def _tunelab_env(monkeypatch, tmp_path: Path, mongo_url: str, project: Path) -> TunelabEnv:
    db_name = f"test_{uuid.uuid4().hex[:12]}"
    values = {
        "TUNELAB_MONGO_URL": mongo_url,
        "TUNELAB_DB_NAME": db_name,
        "TUNELAB_STATE_DIR": str(tmp_path / "state"),
        "TUNELAB_PROJECT_DIR": str(project),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    client = pymongo.MongoClient(mongo_url)
    env = {**os.environ, **values, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}  # rich tables unabridged
    return TunelabEnv(load_settings(), client[db_name], env)


@pytest.fixture
def tunelab_env(monkeypatch, tmp_path, mongo_url) -> TunelabEnv:
    """The repository's experiments, recording to a fresh database on the session server."""
    return _tunelab_env(monkeypatch, tmp_path, mongo_url, REPO)


@pytest.fixture
def test_project_env(monkeypatch, tmp_path, mongo_url) -> TunelabEnv:
    """The test project's experiments (boom, slow), recording to a fresh database."""
    return _tunelab_env(monkeypatch, tmp_path, mongo_url, TEST_PROJECT)


@dataclass
class BrowsedPage:
    dom: str  # with --dump-dom: the page after its scripts ran
    console: list[str]  # what the page wrote to its console (errors included)


@pytest.fixture
def chromium(tmp_path):
    """Opens a URL in headless Chromium with extra flags (``--dump-dom``, ``--screenshot=…``)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} missing (scripts/test installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} missing: apt-get install chromium")

    def browse(url: str, *action: str) -> BrowsedPage:
        profile = tmp_path / "chromium-profile"
        shutil.rmtree(profile, ignore_errors=True)
        result = subprocess.run(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *action, url],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return BrowsedPage(result.stdout, [line for line in result.stderr.splitlines() if ":CONSOLE" in line])

    return browse
