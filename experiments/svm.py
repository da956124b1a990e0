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


@ex.capture
def get_model(C, gamma, kernel):
    return svm.SVC(C=C, gamma=gamma, kernel=kernel)


@ex.main
def run(test_size, seed):
    return fit_and_score(ex, get_model(), ex.load_data("breast_cancer"), test_size, seed)


if __name__ == "__main__":
    ex.run_commandline()
