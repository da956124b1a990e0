"""Fitting a stack of rebuilt learners with mlens, choosing its meta learner, and the verdict.

:func:`fit_stack` fits every base learner alone and the ensemble on the same
training split, scores them all on the same held-out split and says whether
the ensemble beat the best single learner. :func:`select_meta` runs mlens's
``Evaluator`` over the candidate meta learners with the lower layers as a
preprocessing case, fitted once per fold as mlens does.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tunelab.ensembling import mlens_compat

mlens_compat.apply()

from mlens.ensemble import SequentialEnsemble  # noqa: E402
from mlens.metrics import make_scorer  # noqa: E402
from mlens.model_selection import Evaluator  # noqa: E402
from pandas import DataFrame  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge  # noqa: E402
from sklearn.naive_bayes import GaussianNB  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor  # noqa: E402
from sklearn.svm import SVC, SVR  # noqa: E402

from tunelab.ensembling.spec import EnsembleSpec, Layer  # noqa: E402
from tunelab.scores import SCORES  # noqa: E402

# The spec's layer types and mlens's names for them.
MLENS_LAYERS = {"stack": "stack", "blend": "blend", "subset": "subsemble"}


def named_learner(name: str, seed: int) -> Any:
    """A learner for a later layer or the meta layer, by its name in the spec."""
    return {
        "logistic_regression": lambda: LogisticRegression(max_iter=1000, random_state=seed),
        "svc": lambda: SVC(random_state=seed),
        "random_forest": lambda: RandomForestClassifier(random_state=seed),
        "gradient_boosting": lambda: GradientBoostingClassifier(random_state=seed),
        "knn": lambda: KNeighborsClassifier(),
        "naive_bayes": lambda: GaussianNB(),
        "linear_regression": lambda: LinearRegression(),
        "ridge": lambda: Ridge(random_state=seed),
        "svr": lambda: SVR(),
        "random_forest_regressor": lambda: RandomForestRegressor(random_state=seed),
        "gradient_boosting_regressor": lambda: GradientBoostingRegressor(random_state=seed),
        "knn_regressor": lambda: KNeighborsRegressor(),
    }[name]()


def score_function(spec: EnsembleSpec):
    return SCORES[spec.scorer].function


@dataclass
class StackResult:
    """Held-out scores of each base learner and of the ensemble, and mlens's per-layer table."""

    base_scores: dict[str, float]
    ensemble_score: float
    meta: str
    layer_table: dict[str, dict[str, float]]
    fit_seconds: float
    ensemble: Any = field(repr=False, default=None)
    scorer: str = "accuracy"

    @property
    def score(self):
        return SCORES[self.scorer]

    @property
    def best_single(self) -> tuple[str, float]:
        name = self.score.best(self.base_scores)
        return name, self.base_scores[name]

    @property
    def beats_best_single(self) -> bool:
        return self.score.better(self.ensemble_score, self.best_single[1])


def build_ensemble(spec: EnsembleSpec, base: Sequence[tuple[str, Any]], meta: str | None) -> SequentialEnsemble:
    """The ensemble: the base learners in the first layer, named learners above, then the meta learner."""
    ensemble = SequentialEnsemble(
        scorer=score_function(spec),
        random_state=spec.seed,
        backend=spec.backend,
        n_jobs=spec.n_jobs,
        model_selection=meta is None,
    )
    for index, layer in enumerate(spec.layers):
        learners = list(base) if index == 0 else [(n, named_learner(n, spec.seed)) for n in layer.learners]
        ensemble.add(MLENS_LAYERS[layer.type], [(name, clone(est)) for name, est in learners], **_layer_options(layer))
    if meta is not None:
        ensemble.add_meta(named_learner(meta, spec.seed))
    return ensemble


def _layer_options(layer: Layer) -> dict[str, Any]:
    options: dict[str, Any] = {"proba": layer.proba}
    if layer.type in ("stack", "subset"):
        options["folds"] = layer.folds
    if layer.type == "subset":
        options["partitions"] = layer.partitions
    return options


def fit_stack(
    spec: EnsembleSpec, base: Sequence[tuple[str, Any]], meta: str, X_train, X_test, y_train, y_test
) -> StackResult:
    """Fit and score each base learner alone and the ensemble on the same split (``spec``'s scorer set:
    :meth:`EnsembleSpec.for_task`)."""
    score = score_function(spec)
    base_scores = {name: float(score(y_test, clone(est).fit(X_train, y_train).predict(X_test))) for name, est in base}
    ensemble = build_ensemble(spec, base, meta)
    started = time.perf_counter()
    ensemble.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - started
    ensemble_score = float(score(y_test, ensemble.predict(X_test)))
    return StackResult(
        base_scores, ensemble_score, meta, layer_table(ensemble.data), fit_seconds, ensemble, spec.scorer
    )


def select_meta(spec: EnsembleSpec, base: Sequence[tuple[str, Any]], X_train, y_train) -> tuple[str, DataFrame]:
    """Evaluate every candidate meta learner on the cached lower layers; returns the winner and the table."""
    lower = build_ensemble(spec, base, meta=None)
    evaluator = Evaluator(
        scorer=make_scorer(score_function(spec)),
        cv=spec.layers[0].folds,
        random_state=spec.seed,
        backend=spec.backend,
        n_jobs=spec.n_jobs,
    )
    candidates = [(name, named_learner(name, spec.seed)) for name in spec.metas]
    with warnings.catch_warnings():  # "no valid parameters": each candidate is fitted once, as meant
        warnings.simplefilter("ignore", UserWarning)
        evaluator.fit(
            X_train, y_train, candidates, param_dicts={}, preprocessing={"stack": [("layers", lower)]}, n_iter=1
        )
    results = DataFrame(evaluator.results)
    scores = results["test_score-m"]
    best = scores.idxmax() if SCORES[spec.scorer].direction == "maximize" else scores.idxmin()  # ("stack", meta)
    return best[-1] if isinstance(best, tuple) else str(best).split(".")[-1], results


def layer_table(data: Any) -> dict[str, dict[str, float]]:
    """mlens's ``ensemble.data`` (score, fit and predict time per learner) as plain JSON-able dicts."""
    table = DataFrame(data)
    return {
        " ".join(map(str, key)) if isinstance(key, tuple) else str(key): {k: float(v) for k, v in row.items()}
        for key, row in table.iterrows()
    }
