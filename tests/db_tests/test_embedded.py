"""The embedded SecantusDB server: start, stop, status, port conflicts, durability."""

from __future__ import annotations

import json
import os
import signal
import socket

import pymongo
import pytest

from tests.conftest import free_port
from tunelab.db import EmbeddedServer
from tunelab.errors import TunelabError
from tunelab.processes import alive, wait_until
from tunelab.tracking.runner import execute, prepare_run


def test_start_is_idempotent_and_stop_is_clean(tmp_path):
    server = EmbeddedServer(tmp_path, free_port())
    assert server.start() is True
    status = server.status()
    assert status.running and status.pid == json.loads(server.pid_file.path.read_text())["pid"]
    assert server.start() is False  # already running: same process
    assert server.status().pid == status.pid
    assert pymongo.MongoClient(server.url).admin.command("ping")["ok"] == 1
    assert server.stop() is True
    assert not server.status().running and not server.pid_file.path.exists()
    assert server.stop() is False


def test_port_held_by_another_program_is_a_clear_error(tmp_path):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(TunelabError, match=f"port {port} .* held by another program"):
            EmbeddedServer(tmp_path, port).start()


def test_stale_pid_file_is_ignored(tmp_path):
    server = EmbeddedServer(tmp_path, free_port())
    tmp_path.mkdir(exist_ok=True)
    server.pid_file.write(os.getpid(), port=server.port)  # alive, not a server
    assert not server.status().running
    assert server.start() is True
    server.stop()


def test_external_url_starts_nothing(tunelab_env):
    result = tunelab_env.cli("db", "start")
    assert result.returncode == 2
    assert "nothing embedded to manage" in result.stderr
    assert not (tunelab_env.settings.state_dir / "db.pid").exists()


def test_kill_9_right_after_a_run_loses_nothing(tmp_path, monkeypatch):
    """The server runs with --sync-on-commit: an acknowledged run survives kill -9."""
    server = EmbeddedServer(tmp_path / "state", free_port())
    server.start()
    monkeypatch.setenv("TUNELAB_MONGO_URL", server.url)
    monkeypatch.setenv("TUNELAB_STATE_DIR", str(tmp_path / "state"))
    from tunelab.settings import load_settings

    settings = load_settings()
    outcome = execute(settings, prepare_run(settings, "svm", assignments=["C=3.0"]))
    assert outcome.status == "COMPLETED"
    pid = server.status().pid
    os.kill(pid, signal.SIGKILL)
    # SIGKILL lands once a pending fsync returns (--sync-on-commit): the process can outlive kill() briefly
    assert wait_until(lambda: not alive(pid), timeout=10)
    server.start()  # same storage directory
    try:
        database = pymongo.MongoClient(server.url)[settings.db_name]
        run = database.runs.find_one({"_id": outcome.run_id})
        assert run["status"] == "COMPLETED" and run["config"]["C"] == 3.0
        assert run["result"] == outcome.result
        assert database.metrics.count_documents({"run_id": outcome.run_id}) == 2
        assert database["fs.files"].count_documents({"_id": run["artifacts"][0]["file_id"]}) == 1
    finally:
        server.stop()
