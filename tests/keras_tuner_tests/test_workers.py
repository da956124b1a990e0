"""``tunelab tune --workers N`` on a hypermodel spec: Keras Tuner's chief oracle over gRPC, workers killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.keras_tuner_tests.test_cli import write_project

pytestmark = pytest.mark.slow


def test_two_workers_finish_the_budget_and_survive_a_killed_worker(tunelab_env, tmp_path):
    spec = write_project(tmp_path, budget={"n_trials": 5}, fit={"epochs": 3, "verbose": 0})
    env = {**tunelab_env.env, "TUNELAB_PROJECT_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tunelab", "tune", str(spec), "--workers", "2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    runs = tunelab_env.database.runs
    deadline = time.monotonic() + 240
    while (victim := runs.find_one({"status": "RUNNING", "info.worker": "tuner1"})) is None:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.2)
    os.kill(victim["info"]["pid"], signal.SIGKILL)
    _, err = process.communicate(timeout=400)
    assert process.returncode == 0, err

    assert runs.find_one({"_id": victim["_id"]})["status"] == "FAILED"
    all_runs = list(runs.find({"info.study": "small"}))
    trials = sorted(r["info"]["trial"] for r in all_runs)
    assert trials == [0, 1, 2, 3, 4]  # exactly the budget, one run per trial
    assert {r["info"]["worker"] for r in all_runs} == {"tuner0", "tuner1"}
    assert [r["status"] for r in all_runs].count("COMPLETED") == 4


def test_an_unusable_oracle_port_is_one_line_and_exit_2(tunelab_env, tmp_path):
    spec = write_project(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = tunelab_env.cli("tune", str(spec), "--workers", "2", "--oracle", f"127.0.0.1:{port}", project=tmp_path)
    assert result.returncode == 2
    assert f"--oracle 127.0.0.1:{port}: the chief cannot listen there" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
