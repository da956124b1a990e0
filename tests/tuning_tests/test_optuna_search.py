"""Optuna searches end to end: every trial a Sacred run in the real database, pruning, resuming, grids."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from tests.conftest import TEST_PROJECT
from tests.tuning_tests.conftest import write_spec
from tunelab.tuning.optuna_engine import MOVED_RUN_ATTR, RUN_ID_ATTR, optuna_report
from tunelab.tuning.storages import open_storage


def load(env, spec_path):
    name = json.loads(spec_path.read_text())["study_name"]
    return optuna.load_study(study_name=name, storage=open_storage(env.settings).optuna)


def tune(env, spec_path, *args):
    result = env.cli("tune", str(spec_path), *args, project=TEST_PROJECT)
    assert result.returncode == 0, result.stderr
    return result


def test_every_trial_is_a_tracked_run_and_a_rerun_adds_nothing(test_project_env, tmp_path):
    spec_path = write_spec(tmp_path, budget={"n_trials": 6})
    tune(test_project_env, spec_path, "--workers", "2")
    study = load(test_project_env, spec_path)
    runs = test_project_env.database.runs
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 6
    assert sorted(t.number for t in trials) == list(range(6))
    for trial in trials:
        run = runs.find_one({"_id": trial.user_attrs["sacred_run_id"]})
        assert run["status"] == "COMPLETED"
        assert run["info"]["study"] == study.study_name
        assert run["info"]["trial"] == trial.number
        assert run["info"]["engine"] == "optuna"
        assert run["config"]["x"] == trial.params["x"]
        assert run["config"]["steps"] == 3  # a fixed value of the space
        assert run["result"] == pytest.approx(trial.value)
        metric = test_project_env.database.metrics.find_one({"run_id": run["_id"], "name": "score"})
        assert metric["steps"] == [1, 2, 3]
    assert runs.count_documents({"info.study": study.study_name}) == 6

    tune(test_project_env, spec_path, "--workers", "2")  # the study is complete: nothing to do
    assert len(load(test_project_env, spec_path).trials) == 6
    assert runs.count_documents({"info.study": study.study_name}) == 6


def test_study_show_and_export(test_project_env, tmp_path):
    spec_path = write_spec(tmp_path, budget={"n_trials": 3})
    shown = tune(test_project_env, spec_path)
    study = load(test_project_env, spec_path)
    best_run = study.best_trial.user_attrs["sacred_run_id"]
    assert "top 3 trials" in shown.stdout

    exported = test_project_env.cli("study", "show", study.study_name, "--export", "json", project=TEST_PROJECT)
    report = json.loads(exported.stdout)
    assert report["counts"]["COMPLETE"] == 3
    assert {t["run_id"] for t in report["trials"]} >= {best_run}

    exported = test_project_env.cli("study", "show", study.study_name, "--export", "csv", project=TEST_PROJECT)
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [row["state"] for row in rows] == ["COMPLETE"] * 3
    assert set(rows[0]) == {"trial", "state", "score", "x", "run_id", "duration_s"}

    listed = test_project_env.cli("study", "list", project=TEST_PROJECT)
    assert study.study_name[:6] in listed.stdout

    missing = test_project_env.cli("study", "show", "nope", project=TEST_PROJECT)
    assert missing.returncode == 2 and "no study 'nope'" in missing.stderr

    journal = test_project_env.settings.state_dir / "optuna" / "journal.log"
    optuna_cli = subprocess.run(
        [
            Path(sys.executable).parent / "optuna",
            "trials",
            "--storage",
            str(journal),
            "--storage-class",
            "JournalFileBackend",
            "--study-name",
            study.study_name,
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert {t["user_attrs"]["sacred_run_id"] for t in json.loads(optuna_cli.stdout)} == {
        t.user_attrs["sacred_run_id"] for t in study.trials
    }


def test_pruned_trials_are_pruned_in_optuna_and_in_sacred(test_project_env, tmp_path):
    spec_path = write_spec(
        tmp_path,
        pruner={"name": "median", "options": {"n_startup_trials": 2, "n_warmup_steps": 0}},
        space={"x": {"type": "float", "low": 0.0, "high": 1.0}, "steps": 5, "sleep_s": 0.0},
        budget={"n_trials": 10},
    )
    tune(test_project_env, spec_path)
    trials = load(test_project_env, spec_path).get_trials()
    pruned = [t for t in trials if t.state.name == "PRUNED"]
    assert pruned, [t.state.name for t in trials]
    assert len(pruned) + sum(t.state.name == "COMPLETE" for t in trials) == 10
    runs = test_project_env.database.runs
    for trial in pruned:
        run = runs.find_one({"_id": trial.user_attrs["sacred_run_id"]})
        assert run["status"] == "PRUNED"
        assert run["info"]["summary"]["score"]["steps"] < 5
    assert runs.count_documents({"status": {"$nin": ["COMPLETED", "PRUNED"]}}) == 0


def test_grid_search_visits_each_point_once_with_parallel_workers(test_project_env, tmp_path):
    spec_path = write_spec(
        tmp_path,
        algorithm="grid",
        space={"x": {"type": "categorical", "choices": [0.1, 0.2, 0.3, 0.4, 0.5]}, "steps": 1, "sleep_s": 0.05},
        budget={},
    )
    tune(test_project_env, spec_path, "--workers", "2")
    trials = load(test_project_env, spec_path).get_trials()
    assert sorted(t.params["x"] for t in trials) == [0.1, 0.2, 0.3, 0.4, 0.5]


def test_two_objectives_with_nsga2(test_project_env, tmp_path):
    spec_path = write_spec(
        tmp_path,
        algorithm="nsga2",
        metric=["score", "result"],
        direction=["maximize", "minimize"],
        budget={"n_trials": 4},
    )
    tune(test_project_env, spec_path)
    study = load(test_project_env, spec_path)
    assert all(len(t.values) == 2 for t in study.trials)
    assert study.best_trials


def test_a_failing_experiment_stops_after_three_trials(test_project_env, tmp_path):
    spec_path = write_spec(
        tmp_path,
        experiment="boom",
        metric="result",
        space={"message": {"type": "categorical", "choices": ["a", "b"]}},
    )
    result = test_project_env.cli("tune", str(spec_path), project=TEST_PROJECT)
    assert result.returncode == 2
    assert "3 trials in a row failed; last: RuntimeError" in result.stderr
    assert test_project_env.database.runs.count_documents({"status": "FAILED"}) == 3


def test_cma_es_sampler(test_project_env, tmp_path):
    spec_path = write_spec(tmp_path, algorithm="cmaes", budget={"n_trials": 4})
    tune(test_project_env, spec_path)
    assert [t.state.name for t in load(test_project_env, spec_path).trials] == ["COMPLETE"] * 4


def test_a_study_report_follows_a_run_the_study_noted_as_moved():
    """A told trial's link cannot change: a run that landed under another id is noted in the study."""
    study = optuna.create_study()
    for run_id in (5, 6):
        trial = study.ask()
        trial.set_user_attr(RUN_ID_ATTR, run_id)
        study.tell(trial, 1.0)
    study.set_user_attr(f"{MOVED_RUN_ATTR}5", 9)
    assert [t.run_id for t in optuna_report(study).trials] == [9, 6]
