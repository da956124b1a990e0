"""The classic Sacred example: a support vector machine (a classifier or a regressor, as the data set's task says)."""

from typing import Literal

from pydantic import Field
from sklearn import svm

from tunelab.tracking import ExperimentConfig, TrackedExperiment
from tunelab.tracking.estimators import fit_and_score, task_of


class Config(ExperimentConfig):
    dataset: str = Field(description="a data set declared in tunelab.toml")
    C: float = Field(gt=0)
    gamma: float | Literal["scale", "auto"]
    kernel: Literal["linear", "poly", "rbf", "sigmoid"]
    test_size: float = Field(gt=0, lt=1)


ex = TrackedExperiment("svm", Config)


def make_estimator(dataset, C, gamma, kernel, **_):
    """The unfitted model a run with this config trains (``tunelab stack`` rebuilds learners with it)."""
    machine = svm.SVC if task_of(dataset) == "classification" else svm.SVR
    return machine(C=C, gamma=gamma, kernel=kernel)


@ex.main
def run(_config, dataset, test_size, seed):
    """Returns the test accuracy (classification) or r2 (regression)."""
    return fit_and_score(ex, make_estimator(**_config), ex.load_data(dataset), test_size, seed)


if __name__ == "__main__":
    ex.run_commandline()
