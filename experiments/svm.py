"""The classic Sacred example: a support vector classifier on the breast-cancer data set."""

from typing import Literal

from _common import fit_and_score
from pydantic import Field
from sklearn import svm

from tunelab.tracking import ExperimentConfig, TrackedExperiment


class Config(ExperimentConfig):
    C: float = Field(gt=0)
    gamma: float | Literal["scale", "auto"]
    kernel: Literal["linear", "poly", "rbf", "sigmoid"]
    test_size: float = Field(gt=0, lt=1)


ex = TrackedExperiment("svm", Config)


def make_estimator(C, gamma, kernel, **_):
    """The unfitted model a run with this config trains (``tunelab stack`` rebuilds learners with it)."""
    return svm.SVC(C=C, gamma=gamma, kernel=kernel)


@ex.main
def run(_config, test_size, seed):
    return fit_and_score(ex, make_estimator(**_config), ex.load_data("breast_cancer"), test_size, seed)


if __name__ == "__main__":
    ex.run_commandline()
