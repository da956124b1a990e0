"""Fixtures: a real SecantusDB server for the session, and an isolated tunelab environment per test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pymongo
import pytest
from pymongo.database import Database

from tunelab.db import EmbeddedServer
from tunelab.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
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
            cwd=project, env=env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

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
