"""Helpers for experiment files that fit scikit-learn estimators on a declared data set.

An experiment that takes ``dataset`` in its config and builds its estimator with
:func:`task_of` works for classification and regression alike; the pipeline
(``params.yaml``'s ``prepare.dataset``) then fits it on whatever data set it is given.
"""

from __future__ import annotations

from typing import Any

from sklearn.model_selection import train_test_split

from tunelab.data import Dataset, declaration
from tunelab.scores import task_scores
from tunelab.settings import load_settings
from tunelab.tracking.experiment import TrackedExperiment


def task_of(dataset: str) -> str:
    """The task (``classification`` or ``regression``) declared for ``dataset`` in the project's tunelab.toml."""
    return declaration(load_settings(), dataset).task


def split(data: Dataset, test_size: float, seed: int) -> list[Any]:
    """``X_train, X_test, y_train, y_test`` (stratified for classification), deterministic for a given seed."""
    stratify = data.y if data.task == "classification" else None
    return train_test_split(data.X, data.y, test_size=test_size, random_state=seed, stratify=stratify)


def fit_and_score(ex: TrackedExperiment, model: Any, data: Dataset, test_size: float, seed: int) -> float:
    """Fit on the train split, log the task's scores on both splits (``train_accuracy``, ``test_rmse``, …),
    store the model; return the test accuracy (classification) or r2 (regression): higher is better."""
    X_train, X_test, y_train, y_test = split(data, test_size, seed)
    model.fit(X_train, y_train)
    for name, score in task_scores(data.task).items():
        if name == "balanced_accuracy":
            continue
        ex.log_scalar(f"train_{name}", float(score.function(y_train, model.predict(X_train))))
        ex.log_scalar(f"test_{name}", float(score.function(y_test, model.predict(X_test))))
    ex.save_model(model)
    return float(model.score(X_test, y_test))
