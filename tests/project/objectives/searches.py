"""Optuna objectives for the objective engine's tests: define-by-run, pruning, several objectives, failures."""

import os
import time
from pathlib import Path

import optuna
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

import tunelab


def conditional(trial):
    """A classifier and its own parameters: ``C`` exists only for the SVC, ``max_iter`` only for logistic."""
    kind = trial.suggest_categorical("classifier", ["svc", "logistic"])
    if kind == "svc":
        value = trial.suggest_float("C", 0.1, 10.0, log=True)
    else:
        value = trial.suggest_int("max_iter", 10, 100)
    tunelab.current_run().log_scalar("seen", value)
    return value


def curve(trial):
    """Climbs to ``x`` over 4 reported steps; a low ``x`` is pruned by the median pruner."""
    x = trial.suggest_float("x", 0.0, 1.0)
    for step in range(4):
        trial.report(x * (step + 1) / 4, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return x


def slow(trial):
    """Reports ``x`` 6 times, 0.3 s apart: a trial that runs long enough to be killed."""
    x = trial.suggest_float("x", 0.0, 1.0)
    for step in range(6):
        time.sleep(0.3)
        trial.report(x, step)
    return x


def two(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    return x, 1 - x * x


def three_values(trial):
    trial.suggest_float("x", 0.0, 1.0)
    return 1.0, 2.0, 3.0


def flaky(trial):
    """Fails on odd trials; fails every trial once the file FLAKY_ALWAYS names exists."""
    x = trial.suggest_float("x", 0.0, 1.0)
    if trial.number % 2 or Path(os.environ.get("FLAKY_ALWAYS", "/nonexistent")).exists():
        raise RuntimeError(f"trial {trial.number} broke")
    return x


def no_trial():
    return 1.0


def digits_svc(trial):
    """A real model, saved with the trial's run for ``tunelab.load_model``."""
    X, y = load_digits(return_X_y=True)
    model = SVC(C=trial.suggest_float("C", 1.0, 10.0, log=True)).fit(X[:1000], y[:1000])
    trial.run.save_model(model)
    return model.score(X[1000:], y[1000:])


def digits_logistic(trial):
    X, y = load_digits(return_X_y=True)
    model = LogisticRegression(max_iter=trial.suggest_int("max_iter", 50, 200)).fit(X[:1000], y[:1000])
    trial.run.save_model(model)
    return model.score(X[1000:], y[1000:])


def cancer_svc(trial):
    """An SVC on the project's breast_cancer data: a learner ``tunelab stack`` can refit."""
    data = trial.run.load_data("breast_cancer")
    model = SVC(C=trial.suggest_float("C", 0.1, 10.0, log=True), gamma="scale").fit(data.X[:400], data.y[:400])
    trial.run.save_model(model)
    return model.score(data.X[400:], data.y[400:])
