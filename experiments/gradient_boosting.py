"""Gradient boosting on the breast-cancer data set; logs loss and test accuracy at every stage."""

from pydantic import Field
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score

from tunelab.tracking import ExperimentConfig, TrackedExperiment
from tunelab.tracking.estimators import split


class Config(ExperimentConfig):
    n_estimators: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    max_depth: int = Field(ge=1)
    subsample: float = Field(gt=0, le=1)
    test_size: float = Field(gt=0, lt=1)


ex = TrackedExperiment("gradient_boosting", Config)


def make_estimator(n_estimators, learning_rate, max_depth, subsample, seed, **_):
    """The unfitted model a run with this config trains (``tunelab stack`` rebuilds learners with it)."""
    return GradientBoostingClassifier(
        n_estimators=n_estimators,
        learning_rate=learning_rate,
        max_depth=max_depth,
        subsample=subsample,
        random_state=seed,
    )


@ex.main
def run(_config, test_size, seed):
    X_train, X_test, y_train, y_test = split(ex.load_data("breast_cancer"), test_size, seed)
    model = make_estimator(**_config).fit(X_train, y_train)
    for stage, (loss, y_pred) in enumerate(zip(model.train_score_, model.staged_predict(X_test), strict=True), start=1):
        ex.log_scalar("train_loss", float(loss), stage)
        ex.log_scalar("test_accuracy", float(accuracy_score(y_test, y_pred)), stage)
    ex.log_scalar("train_accuracy", float(model.score(X_train, y_train)))
    ex.save_model(model)
    return float(model.score(X_test, y_test))


if __name__ == "__main__":
    ex.run_commandline()
