"""L2-regularised logistic regression on the standardised breast-cancer data set."""

from pydantic import Field
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tunelab.tracking import ExperimentConfig, TrackedExperiment
from tunelab.tracking.estimators import fit_and_score


class Config(ExperimentConfig):
    C: float = Field(gt=0)
    max_iter: int = Field(ge=1)
    test_size: float = Field(gt=0, lt=1)


ex = TrackedExperiment("logistic_regression", Config)


def make_estimator(C, max_iter, seed, **_):
    """The unfitted model a run with this config trains (``tunelab stack`` rebuilds learners with it)."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed))


@ex.main
def run(_config, test_size, seed):
    return fit_and_score(ex, make_estimator(**_config), ex.load_data("breast_cancer"), test_size, seed)


if __name__ == "__main__":
    ex.run_commandline()
