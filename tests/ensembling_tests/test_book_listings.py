"""The book's mlens listings run on NumPy 2.4 / scikit-learn 1.9 and reach the book's accuracy."""

from __future__ import annotations

import pytest

from tunelab.ensembling import mlens_compat

mlens_compat.apply()

from mlens.ensemble import SequentialEnsemble, SuperLearner  # noqa: E402
from mlens.metrics import make_scorer  # noqa: E402
from mlens.model_selection import Evaluator  # noqa: E402
from pandas import DataFrame  # noqa: E402
from scipy.stats import randint, uniform  # noqa: E402
from sklearn.datasets import make_moons  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import SVC  # noqa: E402

pytestmark = pytest.mark.slow
SEED = 42


@pytest.fixture(scope="module")
def moons():
    X, y = make_moons(n_samples=10000, noise=0.4, random_state=SEED)
    return train_test_split(X, y, test_size=0.3, random_state=SEED)


@pytest.mark.parametrize("backend", ["threading", "multiprocessing"])
def test_single_layer_super_learner(moons, backend):
    X_train, X_test, y_train, y_test = moons
    ensemble = SuperLearner(scorer=accuracy_score, random_state=SEED, backend=backend)
    ensemble.add([RandomForestClassifier(random_state=SEED), SVC(random_state=SEED)])
    ensemble.add_meta(LogisticRegression())
    ensemble.fit(X_train, y_train)
    assert accuracy_score(y_test, ensemble.predict(X_test)) == pytest.approx(0.86, abs=0.015)
    table = str(ensemble.data)  # the per-learner table the book prints
    assert "randomforestclassifier" in table and "svc" in table and "score-m" in table


def test_two_layer_ensemble(moons):
    X_train, X_test, y_train, y_test = moons
    ensemble = SuperLearner(scorer=accuracy_score, random_state=SEED)
    ensemble.add([RandomForestClassifier(random_state=SEED), LogisticRegression(random_state=SEED)])
    ensemble.add([LogisticRegression(random_state=SEED), SVC(random_state=SEED)])
    ensemble.add_meta(SVC(random_state=SEED))
    ensemble.fit(X_train, y_train)
    assert accuracy_score(y_test, ensemble.predict(X_test)) > 0.83  # the book shows no figure for this one


def test_evaluator_with_preprocessing_cases(moons):
    X_train, _, y_train, _ = moons
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier

    evaluator = Evaluator(scorer=make_scorer(accuracy_score, greater_is_better=True), cv=3, random_state=SEED)
    evaluator.fit(
        X_train[:3000],
        y_train[:3000],
        [("gnb", GaussianNB()), ("knn", KNeighborsClassifier())],
        {"knn": {"n_neighbors": randint(2, 20)}},
        preprocessing={"none": [], "sc": [StandardScaler()]},
        n_iter=3,
    )
    results = DataFrame(evaluator.results)  # as the book shows it
    assert len(results) == 4  # 2 learners x 2 preprocessing cases
    assert results["test_score-m"].min() > 0.8


def test_sequential_ensemble_as_a_preprocessing_case(moons):
    X_train, _, y_train, _ = moons
    base_learners = [RandomForestClassifier(random_state=SEED), SVC(probability=True)]
    proba = SequentialEnsemble(model_selection=True, random_state=SEED).add("blend", base_learners, proba=True)
    classes = SequentialEnsemble(model_selection=True, random_state=SEED).add("blend", base_learners, proba=False)
    evaluator = Evaluator(scorer=make_scorer(accuracy_score), random_state=SEED, cv=2)
    evaluator.fit(
        X_train[:3000],
        y_train[:3000],
        [SVC(random_state=SEED), ("rf", RandomForestClassifier(random_state=SEED))],
        {
            "svc": {"C": uniform(0, 10)},
            "class.rf": {"max_depth": randint(2, 10)},
            "proba.rf": {"max_depth": randint(2, 10), "max_features": uniform(0.5, 0.5)},
        },
        preprocessing={"proba": [("layer-1", proba)], "class": [("layer-1", classes)]},
        n_iter=2,
    )
    results = DataFrame(evaluator.results)
    assert len(results) == 4  # {proba, class} x {svc, rf}
    assert results["test_score-m"].min() > 0.8
