"""Every layer type of an ensemble spec builds and fits (no database needed)."""

from __future__ import annotations

import pytest
from sklearn.datasets import make_moons
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from tunelab.ensembling.sources import SourceRun, rebuild
from tunelab.ensembling.spec import EnsembleSpec
from tunelab.ensembling.stacking import fit_stack
from tunelab.errors import TunelabError


@pytest.mark.parametrize(
    "layers",
    [
        [{"type": "stack", "folds": 3, "proba": True}],
        [{"type": "blend"}],
        [{"type": "subset", "partitions": 2, "folds": 2}],
        [{"type": "stack", "folds": 2}, {"type": "blend", "learners": ["naive_bayes", "knn"]}],
    ],
)
def test_layer_types(layers):
    X, y = make_moons(n_samples=1500, noise=0.4, random_state=0)
    split = train_test_split(X, y, test_size=0.3, random_state=0)
    spec = EnsembleSpec.model_validate({"base_learners": [{"runs": [1]}], "layers": layers, "n_jobs": 1})
    spec = spec.for_task("classification", "spec")  # logistic regression and accuracy
    base = [("rf", RandomForestClassifier(n_estimators=20, random_state=0)), ("lr", LogisticRegression())]
    result = fit_stack(spec, base, "logistic_regression", *split)
    assert result.ensemble_score > 0.75
    assert set(result.base_scores) == {"rf", "lr"}
    assert any("rf" in row for row in result.layer_table)


def test_shipped_ensemble_specs_are_valid():
    from pathlib import Path

    from tunelab.ensembling.spec import load_ensemble_spec

    paths = sorted((Path(__file__).resolve().parents[2] / "configs" / "ensemble").glob("*.json"))
    assert paths, "no ensemble specs found"
    for path in paths:
        assert load_ensemble_spec(path).base_learners


def test_meta_and_scorer_default_to_the_task_and_must_suit_it():
    spec = EnsembleSpec.model_validate({"base_learners": [{"runs": [1]}]})
    assert (spec.meta, spec.scorer) == (None, None)
    regression = spec.for_task("regression", "spec")
    assert (regression.meta, regression.scorer) == ("ridge", "r2")
    explicit = spec.model_copy(update={"meta": ["linear_regression", "ridge"], "scorer": "rmse"})
    assert explicit.for_task("regression", "spec").scorer == "rmse"
    with pytest.raises(TunelabError, match=r"^my\.json: key 'meta': 'logistic_regression' is not a regression learner"):
        spec.model_copy(update={"meta": "logistic_regression"}).for_task("regression", "my.json")
    with pytest.raises(TunelabError, match=r"^my\.json: key 'scorer': 'r2' is not a classification score"):
        spec.model_copy(update={"scorer": "r2"}).for_task("classification", "my.json")


def test_a_run_recorded_before_experiments_took_their_data_set_is_rebuilt(tunelab_env):
    """svm's make_estimator takes ``dataset``; a run whose config lacks it is rebuilt from info.dataset."""
    old_config = {"C": 2.0, "gamma": "scale", "kernel": "rbf", "test_size": 0.2, "seed": 42}
    learner = rebuild(tunelab_env.settings, SourceRun(7, "svm", old_config, "breast_cancer"))
    assert type(learner).__name__ == "SVC" and learner.C == 2.0
    without_c = {key: value for key, value in old_config.items() if key != "C"}
    with pytest.raises(TunelabError, match=r"spec: run 7: svm.make_estimator does not take the run's config"):
        rebuild(tunelab_env.settings, SourceRun(7, "svm", without_c, "breast_cancer"), "spec")
