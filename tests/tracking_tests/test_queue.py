"""The run queue against the real database: enqueue, workers in separate processes, lost workers, other code."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import TEST_PROJECT
from tunelab.tracking import queue


def _configs(directory, name, values):
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, config in enumerate(values):
        path = directory / f"{name}_{i}.json"
        path.write_text(json.dumps(config))
        paths.append(str(path))
    return paths


def _start(env, *args, project=TEST_PROJECT, **extra_env):
    return subprocess.Popen(
        [sys.executable, "-m", "tunelab", *args],
        cwd=project,
        env={**env.env, "TUNELAB_PROJECT_DIR": str(project), **extra_env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_two_concurrent_batches_run_each_config_once(test_project_env, tmp_path):
    configs = _configs(tmp_path, "curve", [{"x": x / 10, "steps": 3, "sleep_s": 0.1} for x in range(4)])
    batches = [_start(test_project_env, "batch", *configs) for _ in range(2)]
    for process in batches:
        _, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, stderr
    runs = list(test_project_env.database.runs.find())
    assert sorted(r["config"]["x"] for r in runs) == [0.0, 0.1, 0.2, 0.3]
    assert {r["status"] for r in runs} == {"COMPLETED"}


def test_nothing_to_do_and_unknown_batch(test_project_env):
    idle = test_project_env.cli("worker", project=TEST_PROJECT)
    assert idle.returncode == 0 and idle.stdout.strip() == "queue empty: nothing to run"
    for args in (("worker", "--batch", "nope"), ("queue", "list", "--batch", "nope"), ("queue", "cancel", "--batch", "nope")):
        result = test_project_env.cli(*args, project=TEST_PROJECT)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == "error: unknown batch id 'nope' (latest: none)"
