"""``tunelab tune FILE.py:FUNCTION``: a user's own objective, every trial a tracked run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from tests.conftest import TEST_PROJECT
from tests.tuning_tests.test_distributed import wait_for_running_trial
from tunelab.tuning.storages import open_storage

OBJECTIVES = "objectives/searches.py"


def tune(env, function, *args, code=0):
    result = env.cli("tune", f"{OBJECTIVES}:{function}", *args, project=TEST_PROJECT)
    assert result.returncode == code, result.stderr
    return result


def load(env, name, storage=None):
    return optuna.load_study(study_name=name, storage=open_storage(env.settings, storage).optuna)


def runs_of(env, study):
    return {run["info"]["trial"]: run for run in env.database.runs.find({"info.study": study.study_name})}


def test_conditional_parameters_are_recorded_only_when_active(test_project_env):
    tune(test_project_env, "conditional", "--study", "cond", "--n-trials", "8", "--sampler", "random", "--seed", "1")
    study = load(test_project_env, "cond")
    runs = runs_of(test_project_env, study)
    assert len(runs) == 8 and {t.state.name for t in study.trials} == {"COMPLETE"}
    kinds = set()
    for trial in study.trials:
        run = runs[trial.number]
        kinds.add(trial.params["classifier"])
        assert run["config"] == trial.params  # exactly the suggested parameters, nothing else
        expected = {"classifier", "C"} if trial.params["classifier"] == "svc" else {"classifier", "max_iter"}
        assert set(run["config"]) == expected
        assert run["result"] == pytest.approx(trial.value)
        assert run["info"]["engine"] == "objective" and run["info"]["objective_function"].endswith(":conditional")
        assert run["info"]["result_direction"] == "maximize"  # what "best" means in the dashboards
        assert run["info"]["git_commit"] and run["experiment"]["repositories"]  # the code it ran
        assert trial.user_attrs["sacred_run_id"] == run["_id"]
        assert [name for name, _ in run["experiment"]["sources"]] == ["searches.py"]
        assert run["experiment"]["name"] == "conditional"
        seen = test_project_env.database.metrics.find_one({"run_id": run["_id"], "name": "seen"})
        assert seen["values"] == [pytest.approx(trial.value)]
    assert kinds == {"svc", "logistic"}
    shown = test_project_env.cli("study", "show", "cond", "--export", "json", project=TEST_PROJECT)
    assert json.loads(shown.stdout)["engine"] == "objective"
    journal = test_project_env.settings.state_dir / "optuna" / "journal.log"
    optuna_cli = [str(Path(sys.executable).parent / "optuna"), "trials", "--study-name", "cond", "-f", "json"]
    listed = subprocess.run(
        [*optuna_cli, "--storage", str(journal), "--storage-class", "JournalFileBackend"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 8


def test_pruned_trials_are_pruned_in_optuna_and_in_sacred(test_project_env):
    tune(test_project_env, "curve", "--study", "pruning", "--n-trials", "12", "--pruner", "median", "--seed", "0")
    study = load(test_project_env, "pruning")
    runs = runs_of(test_project_env, study)
    pruned = [t for t in study.trials if t.state.name == "PRUNED"]
    assert pruned, "the median pruner pruned nothing"
    for trial in study.trials:
        run = runs[trial.number]
        assert run["status"] == {"PRUNED": "PRUNED", "COMPLETE": "COMPLETED"}[trial.state.name]
        assert run["config"] == trial.params
        reported = test_project_env.database.metrics.find_one({"run_id": run["_id"], "name": "objective"})
        assert reported["steps"] == sorted(trial.intermediate_values)
    assert len([t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]) == 12


def test_several_objectives(test_project_env):
    tune(
        test_project_env,
        "two",
        "--study",
        "multi",
        "--n-trials",
        "5",
        "--direction",
        "maximize",
        "--direction",
        "minimize",
        "--sampler",
        "nsga2",
    )
    study = load(test_project_env, "multi")
    runs = runs_of(test_project_env, study)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    for trial in study.trials:
        assert runs[trial.number]["result"] == pytest.approx(trial.values)
        summary = runs[trial.number]["info"]["summary"]
        assert summary["result_1"]["last"] == pytest.approx(trial.values[1])
    assert study.user_attrs["metrics"] == ["result_0", "result_1"]


def test_a_failing_objective_fails_its_trial_and_three_in_a_row_stop(test_project_env, tmp_path, monkeypatch):
    tune(test_project_env, "flaky", "--study", "flaky", "--n-trials", "4")
    study = load(test_project_env, "flaky")
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 4 and states.count("FAIL") == 3  # odd numbers fail, the search goes on
    runs = runs_of(test_project_env, study)
    assert runs[1]["status"] == "FAILED" and "trial 1 broke" in runs[1]["fail_trace"][-1]

    always = tmp_path / "always"
    always.touch()
    test_project_env.env["FLAKY_ALWAYS"] = str(always)
    result = tune(test_project_env, "flaky", "--study", "flaky2", "--n-trials", "10", code=2)
    assert "3 trials in a row failed" in result.stderr and "Traceback" not in result.stderr
    assert [t.state.name for t in load(test_project_env, "flaky2").trials] == ["FAIL"] * 3


@pytest.mark.parametrize(
    ("target", "args", "message"),
    [
        ("objectives/nope.py:conditional", (), "no such file"),
        (f"{OBJECTIVES}:nope", (), "defines no function 'nope'"),
        (f"{OBJECTIVES}:no_trial", (), "must take one argument, the trial"),
        (f"{OBJECTIVES}:three_values", ("--direction", "maximize", "--direction", "minimize"), "returned 3 value(s)"),
        (f"{OBJECTIVES}:two", ("--sampler", "grid"), "algorithm"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(test_project_env, target, args, message):
    result = test_project_env.cli("tune", target, "--n-trials", "2", *args, project=TEST_PROJECT)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_json_spec_can_name_the_objective(test_project_env, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"objective": f"{OBJECTIVES}:curve", "budget": {"n_trials": 3}, "seed": 0}))
    result = test_project_env.cli("tune", str(spec), project=TEST_PROJECT)
    assert result.returncode == 0, result.stderr
    study = load(test_project_env, "spec")
    assert len(runs_of(test_project_env, study)) == 3 and study.user_attrs["engine"] == "objective"


@pytest.mark.slow
def test_stack_reads_an_objective_study_and_refits_its_models(tunelab_env, tmp_path):
    objective = f"{TEST_PROJECT / OBJECTIVES}:cancer_svc"
    tuned = tunelab_env.cli("tune", objective, "--study", "cancer", "--n-trials", "3", "--seed", "0", timeout=300)
    assert tuned.returncode == 0, tuned.stderr
    spec = tmp_path / "ensemble.json"
    spec.write_text(
        json.dumps({"base_learners": [{"study": "cancer", "top": 2}], "layers": [{"type": "stack", "folds": 2}]})
    )
    stacked = tunelab_env.cli("stack", str(spec), timeout=300)
    assert stacked.returncode == 0, stacked.stderr
    run = tunelab_env.database.runs.find_one({"experiment.name": "stack"})
    assert run["status"] == "COMPLETED" and len(run["info"]["source_runs"]) == 2
    assert run["info"]["dataset"] == "breast_cancer"


def test_kill_9_mid_trial_then_rerun_fails_its_run_and_draws_no_earlier_values_again(test_project_env):
    """The killed trial's run names its study, trial and parameters from its first writes, so the re-run
    finds and fails it; the re-run's seeded sampler does not replay the values the first run drew."""
    args = ["--study", "slowk", "--n-trials", "4", "--sampler", "random", "--seed", "1"]
    process = test_project_env.popen("tune", f"{OBJECTIVES}:slow", *args, project=TEST_PROJECT)
    killed_run = wait_for_running_trial(test_project_env, "slowk")
    runs = test_project_env.database.runs
    assert "x" in killed_run["config"] and killed_run["info"]["git_commit"]  # from the run's first write
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    tune(test_project_env, "slow", *args)
    study = load(test_project_env, "slowk")
    run = runs.find_one({"_id": killed_run["_id"]})
    assert run["status"] == "FAILED" and "worker lost" in run["fail_trace"][0]
    killed = study.trials[run["info"]["trial"]]
    assert killed.state.name == "FAIL" and run["config"] == killed.params
    completed = [t.params["x"] for t in study.trials if t.state.name == "COMPLETE"]
    assert len(completed) == 4 and len(set(completed)) == 4  # the retry has the killed trial's x; no other repeats


def test_a_minimised_objective_is_summarised_by_its_smallest_report(test_project_env):
    """Omniboard's "objective best" column follows the study's direction, not the metric's name."""
    tune(test_project_env, "curve", "--study", "down", "--n-trials", "2", "--direction", "minimize", "--seed", "1")
    for run in runs_of(test_project_env, load(test_project_env, "down")).values():
        summary = run["info"]["summary"]["objective"]
        assert summary["best"] == summary["min"] < summary["max"]
        assert run["info"]["result_direction"] == "minimize"
