"""Pieces shared by the scikit-learn experiments (recorded by Sacred as a source file)."""

from sklearn.model_selection import train_test_split

from tunelab.data import Dataset
from tunelab.scores import task_scores
from tunelab.tracking import TrackedExperiment


def split(data: Dataset, test_size: float, seed: int):
    """A train/test split (stratified for classification), deterministic for a given seed."""
    stratify = data.y if data.task == "classification" else None
    return train_test_split(data.X, data.y, test_size=test_size, random_state=seed, stratify=stratify)


def fit_and_score(ex: TrackedExperiment, model, data: Dataset, test_size: float, seed: int) -> float:
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
