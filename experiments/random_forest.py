"""A random forest on the breast-cancer data set."""

from typing import Literal

from _common import fit_and_score
from pydantic import Field
from sklearn.ensemble import RandomForestClassifier

from tunelab.tracking import ExperimentConfig, TrackedExperiment


class Config(ExperimentConfig):
    n_estimators: int = Field(ge=1)
    max_depth: int | None = Field(ge=1)
    min_samples_leaf: int = Field(ge=1)
    max_features: float | Literal["sqrt", "log2"]
    test_size: float = Field(gt=0, lt=1)


ex = TrackedExperiment("random_forest", Config)


@ex.main
def run(n_estimators, max_depth, min_samples_leaf, max_features, test_size, seed):
    model = RandomForestClassifier(
        n_estimators=n_estimators, max_depth=max_depth, min_samples_leaf=min_samples_leaf,
        max_features=max_features, random_state=seed, n_jobs=1,
    )  # fmt: skip
    return fit_and_score(ex, model, ex.load_data("breast_cancer"), test_size, seed)


if __name__ == "__main__":
    ex.run_commandline()
