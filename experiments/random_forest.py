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


def make_estimator(n_estimators, max_depth, min_samples_leaf, max_features, seed, **_):
    """The unfitted model a run with this config trains (``tunelab stack`` rebuilds learners with it)."""
    return RandomForestClassifier(
        n_estimators=n_estimators,
        max_depth=max_depth,
        min_samples_leaf=min_samples_leaf,
        max_features=max_features,
        random_state=seed,
        n_jobs=1,
    )


@ex.main
def run(_config, test_size, seed):
    return fit_and_score(ex, make_estimator(**_config), ex.load_data("breast_cancer"), test_size, seed)


if __name__ == "__main__":
    ex.run_commandline()
