"""Many workers on one study, and workers killed with ``kill -9``: on PostgreSQL and the journal file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import optuna
import pytest

from tests.conftest import TEST_PROJECT
from tests.tuning_tests.conftest import write_spec
from tunelab.tuning.storages import open_storage

pytestmark = pytest.mark.slow


def start_tune(env, spec_path, *args) -> subprocess.Popen:
    return env.popen("tune", str(spec_path), *args, project=TEST_PROJECT)


def finish(process: subprocess.Popen, timeout: float = 180) -> None:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err


def check_one_run_per_trial(env, study: optuna.Study) -> None:
    runs = {run["_id"]: run for run in env.database.runs.find({"info.study": study.study_name})}
    for trial in study.trials:
        if trial.state.name in ("COMPLETE", "PRUNED"):
            run = runs[trial.user_attrs["sacred_run_id"]]
            assert run["info"]["trial"] == trial.number
            assert run["status"] == "COMPLETED"
    assert len(runs) == len(study.trials)
    assert not [r for r in runs.values() if r["status"] == "RUNNING"]


def test_two_commands_on_one_postgres_study_finish_exactly_n_trials(
    test_project_env, tmp_path, postgres_url, cleanup_studies
):
    spec_path = write_spec(
        tmp_path,
        space={"x": {"type": "float", "low": 0.0, "high": 1.0}, "steps": 2, "sleep_s": 0.05},
        budget={"n_trials": 12},
    )
    name = json.loads(spec_path.read_text())["study_name"]
    cleanup_studies.append(name)
    first = start_tune(test_project_env, spec_path, "--storage", postgres_url, "--workers", "2")
    second = start_tune(test_project_env, spec_path, "--storage", postgres_url, "--workers", "2")
    finish(first)
    finish(second)
    study = optuna.load_study(study_name=name, storage=postgres_url)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 12
    assert sorted(t.number for t in study.trials) == list(range(12))
    check_one_run_per_trial(test_project_env, study)


def wait_for_running_trial(env, study_name: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = env.database.runs.find_one({"info.study": study_name, "status": "RUNNING", "info.trial": {"$gte": 1}})
        if run is not None:
            return run
        time.sleep(0.1)
    raise AssertionError("no trial started")


@pytest.mark.parametrize("storage", ["journal", "postgres"])
def test_kill_9_mid_trial_then_rerun_retries_the_trial_and_finishes(test_project_env, tmp_path, storage, request):
    args = []
    if storage == "postgres":
        args = ["--storage", request.getfixturevalue("postgres_url")]
    spec_path = write_spec(
        tmp_path,
        space={"x": {"type": "float", "low": 0.0, "high": 1.0}, "steps": 4, "sleep_s": 0.5},
        budget={"n_trials": 3},
    )
    name = json.loads(spec_path.read_text())["study_name"]
    if storage == "postgres":
        request.getfixturevalue("cleanup_studies").append(name)
    process = start_tune(test_project_env, spec_path, *args)
    killed_run = wait_for_running_trial(test_project_env, name)
    os.killpg(process.pid, signal.SIGKILL)  # the command and its worker, mid-trial
    process.wait()

    finish(start_tune(test_project_env, spec_path, *args))

    study = optuna.load_study(
        study_name=name, storage=args[1] if args else open_storage(test_project_env.settings).optuna
    )
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 3 and states.count("FAIL") == 1, states
    killed = study.trials[killed_run["info"]["trial"]]
    assert killed.state.name == "FAIL"
    retried = [t for t in study.trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retried) == 1 and retried[0].state.name == "COMPLETE"
    assert retried[0].params == killed.params
    run = test_project_env.database.runs.find_one({"_id": killed_run["_id"]})
    assert run["status"] == "FAILED"
    assert "worker lost" in run["fail_trace"][0]
    assert test_project_env.database.runs.count_documents({"info.study": name, "status": "RUNNING"}) == 0


def test_ctrl_c_interrupts_the_running_trials_and_a_rerun_finishes(test_project_env, tmp_path):
    spec_path = write_spec(
        tmp_path,
        space={"x": {"type": "float", "low": 0.0, "high": 1.0}, "steps": 6, "sleep_s": 0.3},
        budget={"n_trials": 3},
    )
    name = json.loads(spec_path.read_text())["study_name"]
    process = start_tune(test_project_env, spec_path, "--workers", "2")
    wait_for_running_trial(test_project_env, name)
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in the terminal reaches the whole group
    process.communicate(timeout=60)
    assert process.returncode == 130
    runs = test_project_env.database.runs
    assert runs.count_documents({"info.study": name, "status": "INTERRUPTED"}) >= 1
    assert runs.count_documents({"info.study": name, "status": "RUNNING"}) == 0
    study = optuna.load_study(study_name=name, storage=open_storage(test_project_env.settings).optuna)
    assert "RUNNING" not in [t.state.name for t in study.trials]

    finish(start_tune(test_project_env, spec_path, "--workers", "2"))
    study = optuna.load_study(study_name=name, storage=open_storage(test_project_env.settings).optuna)
    assert [t.state.name for t in study.trials].count("COMPLETE") == 3


def test_two_objective_commands_on_one_postgres_study_finish_exactly_n_trials(
    test_project_env, postgres_url, cleanup_studies
):
    name = f"objective-{os.getpid()}-{time.time_ns()}"
    cleanup_studies.append(name)
    args = ["--study", name, "--n-trials", "10", "--storage", postgres_url, "--workers", "2", "--sampler", "random"]
    target = "objectives/searches.py:conditional"
    commands = [start_tune(test_project_env, target, *args) for _ in range(2)]
    for command in commands:
        finish(command)
    study = optuna.load_study(study_name=name, storage=postgres_url)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 10
    check_one_run_per_trial(test_project_env, study)
