"""``@tunelab.optuna.track``: a user's own ``study.optimize`` loop, every trial a run, threads included."""

from __future__ import annotations

import optuna
import pytest

import tunelab
import tunelab.optuna


def test_n_jobs_2_records_exactly_n_trials_runs(test_project_env):
    seen_runs = []

    @tunelab.optuna.track(experiment="threads")
    def objective(trial):
        x = trial.suggest_float("x", -1.0, 1.0)
        if x > 0:
            trial.suggest_int("extra", 1, 3)
        for step in range(3):
            trial.report(x * step, step)
        seen_runs.append(tunelab.current_run().id)
        assert tunelab.current_run() is trial.run  # this thread's run, not the other's
        return x * x

    study = optuna.create_study(study_name="own-loop", sampler=optuna.samplers.RandomSampler(seed=3))
    study.optimize(objective, n_trials=12, n_jobs=2)

    runs = {run["_id"]: run for run in test_project_env.database.runs.find({"experiment.name": "threads"})}
    assert len(runs) == 12 and sorted(seen_runs) == sorted(runs)
    for trial in study.trials:
        run = runs[trial.user_attrs["sacred_run_id"]]
        assert run["status"] == "COMPLETED" and run["info"]["trial"] == trial.number
        assert run["config"] == trial.params
        assert run["result"] == pytest.approx(trial.value)
        reported = test_project_env.database.metrics.find_one({"run_id": run["_id"], "name": "objective"})
        assert reported["steps"] == [0, 1, 2]
    assert study.user_attrs["engine"] == "objective"


def test_pruned_and_failed_trials_keep_their_optuna_meaning(test_project_env):
    @tunelab.optuna.track(experiment="outcomes")
    def objective(trial):
        x = trial.suggest_int("x", 0, 2)
        if x == 0:
            raise optuna.TrialPruned()
        if x == 1:
            raise ValueError("bad x")
        return x

    study = optuna.create_study(sampler=optuna.samplers.GridSampler({"x": [0, 1, 2]}))
    study.optimize(objective, n_trials=3, catch=(ValueError,))
    states = {t.params["x"]: t.state.name for t in study.trials}
    assert states == {0: "PRUNED", 1: "FAIL", 2: "COMPLETE"}
    statuses = {
        r["config"]["x"]: r["status"] for r in test_project_env.database.runs.find({"info.study": study.study_name})
    }
    assert statuses == {0: "PRUNED", 1: "FAILED", 2: "COMPLETED"}
