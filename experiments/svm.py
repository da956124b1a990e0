"""The classic Sacred example: a support vector classifier on the breast-cancer data set."""

from typing import Literal

from pydantic import Field
from sklearn import model_selection, svm

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
    data = ex.load_data("breast_cancer")
    X_train, X_test, y_train, y_test = model_selection.train_test_split(
        data.X, data.y, test_size=test_size, random_state=seed, stratify=data.y
    )
    model = get_model().fit(X_train, y_train)  # parameters are injected by Sacred
    ex.log_scalar("train_accuracy", model.score(X_train, y_train))
    accuracy = model.score(X_test, y_test)
    ex.log_scalar("test_accuracy", accuracy)
    ex.save_model(model)
    return accuracy


if __name__ == "__main__":
    ex.run_commandline()
