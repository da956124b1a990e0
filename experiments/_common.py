"""Pieces shared by the scikit-learn experiments (recorded by Sacred as a source file)."""

from sklearn.model_selection import train_test_split

from tunelab.data import Dataset
from tunelab.tracking import TrackedExperiment


def split(data: Dataset, test_size: float, seed: int):
    """A stratified train/test split, deterministic for a given seed."""
    return train_test_split(data.X, data.y, test_size=test_size, random_state=seed, stratify=data.y)


def fit_and_score(ex: TrackedExperiment, model, data: Dataset, test_size: float, seed: int) -> float:
    """Fit on the train split, log train/test accuracy, store the model; return test accuracy."""
    X_train, X_test, y_train, y_test = split(data, test_size, seed)
    model.fit(X_train, y_train)
    ex.log_scalar("train_accuracy", float(model.score(X_train, y_train)))
    accuracy = float(model.score(X_test, y_test))
    ex.log_scalar("test_accuracy", accuracy)
    ex.save_model(model)
    return accuracy
