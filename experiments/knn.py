"""k-nearest neighbours on the standardised breast-cancer data set."""

from typing import Literal

from _common import fit_and_score
from pydantic import Field
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tunelab.tracking import ExperimentConfig, TrackedExperiment


class Config(ExperimentConfig):
    n_neighbors: int = Field(ge=1)
    weights: Literal["uniform", "distance"]
    p: int = Field(ge=1)
    test_size: float = Field(gt=0, lt=1)


ex = TrackedExperiment("knn", Config)


def make_estimator(n_neighbors, weights, p, **_):
    """The unfitted model a run with this config trains (``tunelab stack`` rebuilds learners with it)."""
    return make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=n_neighbors, weights=weights, p=p))


@ex.main
def run(_config, test_size, seed):
    return fit_and_score(ex, make_estimator(**_config), ex.load_data("breast_cancer"), test_size, seed)


if __name__ == "__main__":
    ex.run_commandline()
