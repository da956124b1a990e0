"""L2-regularised logistic regression on the standardised breast-cancer data set."""

from _common import fit_and_score
from pydantic import Field
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tunelab.tracking import ExperimentConfig, TrackedExperiment


class Config(ExperimentConfig):
    C: float = Field(gt=0)
    max_iter: int = Field(ge=1)
    test_size: float = Field(gt=0, lt=1)


ex = TrackedExperiment("logistic_regression", Config)


@ex.main
def run(C, max_iter, test_size, seed):
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed))
    return fit_and_score(ex, model, ex.load_data("breast_cancer"), test_size, seed)


if __name__ == "__main__":
    ex.run_commandline()
