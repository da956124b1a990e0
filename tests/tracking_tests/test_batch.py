"""Batches in worker processes: distinct ids, failures isolated, resume, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests.conftest import TEST_PROJECT


def _configs(tmp_path, name, values):
    paths = []
    for i, config in enumerate(values):
        path = tmp_path / f"{name}_{i}.json"
        path.write_text(json.dumps(config))
        paths.append(str(path))
    return paths


def test_concurrent_batch_gets_distinct_ids_and_resumes(tunelab_env, tmp_path):
    configs = _configs(tmp_path, "svm", [{"C": c} for c in (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)])
    result = tunelab_env.cli("batch", *configs, "--workers", "2")
    assert result.returncode == 0, result.stderr
    runs = list(tunelab_env.database.runs.find())
    assert len(runs) == 6 and len({r["_id"] for r in runs}) == 6
    assert {r["status"] for r in runs} == {"COMPLETED"}
    assert sorted(r["config"]["C"] for r in runs) == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0]

    again = tunelab_env.cli("batch", *configs, "--workers", "2")  # resumes: nothing left to do
    assert again.returncode == 0 and "skipping 6 config(s)" in again.stderr
    assert tunelab_env.database.runs.count_documents({}) == 6


def test_a_failing_run_does_not_stop_the_batch(test_project_env, tmp_path):
    configs = _configs(tmp_path, "boom", [{"message": "x"}]) + _configs(tmp_path, "slow", [{"steps": 2}])
    result = test_project_env.cli("batch", *configs, "--workers", "2", project=TEST_PROJECT)
    assert result.returncode == 1
    statuses = {r["experiment"]["name"]: r["status"] for r in test_project_env.database.runs.find()}
    assert statuses == {"boom": "FAILED", "slow": "COMPLETED"}
    assert "FAILED" in result.stdout and "COMPLETED" in result.stdout
    listed = test_project_env.cli("runs", project=TEST_PROJECT).stdout
    assert "RuntimeError: x" in listed  # why it failed, where a result would be


def test_ctrl_c_marks_running_runs_interrupted(test_project_env, tmp_path):
    configs = _configs(tmp_path, "slow", [{"steps": 600, "sleep_s": 0.05}] * 3)
    process = test_project_env.popen("batch", *map(str, configs), "--workers", "2", project=TEST_PROJECT)
    runs = test_project_env.database.runs
    deadline = time.monotonic() + 60
    started = {"status": "RUNNING", "start_time": {"$ne": None}}  # claimed, and Sacred started it
    while runs.count_documents(started) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert runs.count_documents(started) == 2
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 130
    assert runs.count_documents({"status": "RUNNING"}) == 0
    assert runs.count_documents({"status": "INTERRUPTED"}) == 2
    assert "SKIPPED" in stdout  # the third config never started


def test_sigint_to_the_batch_process_alone_also_interrupts(test_project_env, tmp_path):
    configs = _configs(tmp_path, "slow", [{"steps": 600, "sleep_s": 0.05}])
    process = subprocess.Popen(
        [sys.executable, "-m", "tunelab", "batch", *configs],
        cwd=TEST_PROJECT,
        env={**test_project_env.env, "TUNELAB_PROJECT_DIR": str(TEST_PROJECT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    runs = test_project_env.database.runs
    deadline = time.monotonic() + 60
    while runs.count_documents({"status": "RUNNING", "start_time": {"$ne": None}}) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    assert [r["status"] for r in runs.find()] == ["INTERRUPTED"]
