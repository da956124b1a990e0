"""Regression: ridge regression on scikit-learn's diabetes data (disease progression after one year)."""

from pydantic import Field
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tunelab.tracking import ExperimentConfig, TrackedExperiment
from tunelab.tracking.estimators import fit_and_score


class Config(ExperimentConfig):
    alpha: float = Field(gt=0)
    dataset: str = Field(description="a declared regression data set")
    test_size: float = Field(gt=0, lt=1)


ex = TrackedExperiment("ridge", Config)


def make_estimator(alpha, **_):
    """The unfitted model a run with this config trains (``tunelab stack`` rebuilds learners with it)."""
    return make_pipeline(StandardScaler(), Ridge(alpha=alpha))


@ex.main
def run(_config, dataset, test_size, seed):
    """Logs train/test r2, rmse and mae; returns the test r2."""
    return fit_and_score(ex, make_estimator(**_config), ex.load_data(dataset), test_size, seed)


if __name__ == "__main__":
    ex.run_commandline()
