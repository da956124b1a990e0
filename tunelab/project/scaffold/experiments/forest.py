"""A random forest on a declared data set: a classifier or a regressor, as the data set's task says."""

from pydantic import Field
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from tunelab.tracking import ExperimentConfig, TrackedExperiment
from tunelab.tracking.estimators import fit_and_score, task_of


class Config(ExperimentConfig):
    dataset: str = Field(description="a data set declared in tunelab.toml")
    n_estimators: int = Field(ge=1)
    max_depth: int | None = Field(ge=1)
    min_samples_leaf: int = Field(ge=1)
    test_size: float = Field(gt=0, lt=1)


ex = TrackedExperiment("forest", Config)


def make_estimator(dataset, n_estimators, max_depth, min_samples_leaf, seed, **_):
    """The unfitted model a run with this config trains (``tunelab stack`` rebuilds learners with it)."""
    forest = RandomForestClassifier if task_of(dataset) == "classification" else RandomForestRegressor
    return forest(
        n_estimators=n_estimators, max_depth=max_depth, min_samples_leaf=min_samples_leaf, random_state=seed, n_jobs=1
    )


@ex.main
def run(_config, dataset, test_size, seed):
    """Returns the test accuracy (classification) or r2 (regression)."""
    return fit_and_score(ex, make_estimator(**_config), ex.load_data(dataset), test_size, seed)


if __name__ == "__main__":
    ex.run_commandline()
