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


@ex.main
def run(n_neighbors, weights, p, test_size, seed):
    model = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=n_neighbors, weights=weights, p=p))
    return fit_and_score(ex, model, ex.load_data("breast_cancer"), test_size, seed)


if __name__ == "__main__":
    ex.run_commandline()
