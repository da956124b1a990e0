"""k-nearest neighbours on standardised features: a classifier or a regressor, as the data set's task says."""

from typing import Literal

from pydantic import Field
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tunelab.tracking import ExperimentConfig, TrackedExperiment
from tunelab.tracking.estimators import fit_and_score, task_of


class Config(ExperimentConfig):
    dataset: str = Field(description="a data set declared in tunelab.toml")
    n_neighbors: int = Field(ge=1)
    weights: Literal["uniform", "distance"]
    p: int = Field(ge=1)
    test_size: float = Field(gt=0, lt=1)


ex = TrackedExperiment("knn", Config)


def make_estimator(dataset, n_neighbors, weights, p, **_):
    """The unfitted model a run with this config trains (``tunelab stack`` rebuilds learners with it)."""
    neighbours = KNeighborsClassifier if task_of(dataset) == "classification" else KNeighborsRegressor
    return make_pipeline(StandardScaler(), neighbours(n_neighbors=n_neighbors, weights=weights, p=p))


@ex.main
def run(_config, dataset, test_size, seed):
    """Returns the test accuracy (classification) or r2 (regression)."""
    return fit_and_score(ex, make_estimator(**_config), ex.load_data(dataset), test_size, seed)


if __name__ == "__main__":
    ex.run_commandline()
