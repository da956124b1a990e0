"""Ensemble specs: the JSON files in ``configs/ensemble/`` that say which learners to stack and how.

Example::

    {
      "base_learners": [{"study": "svm-tpe", "top": 2}, {"runs": [3, 7]}],
      "layers": [{"type": "stack", "folds": 5, "proba": false}],
      "meta": ["logistic_regression", "random_forest"],
      "scorer": "accuracy", "test_size": 0.3, "seed": 42
    }

Base learners are the top-k complete trials of a study (by its metric) or
explicit run ids; each is rebuilt from its run's recorded config. The first
layer holds them; later layers name learners from :data:`NAMED_LEARNERS`. The
meta learner is one name, or several candidates for ``--select-meta``. Without
``meta`` or ``scorer``, the base learners' data set's task picks them
(:data:`TASK_DEFAULTS`: logistic regression and accuracy, or ridge and r2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from tunelab.errors import TunelabError
from tunelab.scores import SCORES
from tunelab.tracking.config import Strict, load_spec

LEARNERS = {
    "classification": ("logistic_regression", "svc", "random_forest", "gradient_boosting", "knn", "naive_bayes"),
    "regression": (
        "linear_regression",
        "ridge",
        "svr",
        "random_forest_regressor",
        "gradient_boosting_regressor",
        "knn_regressor",
    ),
}
NAMED_LEARNERS = LEARNERS["classification"] + LEARNERS["regression"]
SCORERS = ("accuracy", "balanced_accuracy", "f1", "r2", "rmse", "mae")
TASK_DEFAULTS = {"classification": ("logistic_regression", "accuracy"), "regression": ("ridge", "r2")}  # meta, scorer


class StudySource(Strict):
    study: str
    top: int = Field(ge=1)
    storage: str | None = None


class RunSource(Strict):
    runs: list[int] = Field(min_length=1)


class Layer(Strict):
    type: Literal["stack", "blend", "subset"] = "stack"
    proba: bool = False
    folds: int = Field(default=5, ge=2, description="stack and subset layers")
    partitions: int = Field(default=2, ge=1, description="subset layers")
    learners: list[Literal[NAMED_LEARNERS]] = Field(default=[], description="layers after the first")


class EnsembleSpec(Strict):
    base_learners: list[StudySource | RunSource] = Field(min_length=1)
    layers: list[Layer] = Field(default=[Layer()], min_length=1)
    meta: Literal[NAMED_LEARNERS] | list[Literal[NAMED_LEARNERS]] | None = None  # None: the task's
    scorer: Literal[SCORERS] | None = None  # None: the task's
    test_size: float = Field(default=0.3, gt=0, lt=1)
    seed: int = 42
    backend: Literal["threading", "multiprocessing"] = "threading"
    n_jobs: int = Field(default=-1, ge=-1)

    @model_validator(mode="after")
    def _later_layers_name_learners(self) -> EnsembleSpec:
        for index, layer in enumerate(self.layers[1:], start=2):
            if not layer.learners:
                raise ValueError(f"layers.{index - 1}.learners: layer {index} needs learners (names)")
        if self.layers[0].learners:
            raise ValueError("layers.0.learners: the first layer holds the base learners")
        return self

    @property
    def metas(self) -> list[str]:
        return [self.meta] if isinstance(self.meta, str) else list(self.meta or [])

    def for_task(self, task: str, spec_label: str) -> EnsembleSpec:
        """This spec with ``task``'s meta learner and scorer where it names none; TunelabError naming
        ``spec_label`` and the key if it names a learner or a scorer of the other task."""
        meta, scorer = TASK_DEFAULTS[task]
        spec = self.model_copy(update={"meta": self.meta or meta, "scorer": self.scorer or scorer})
        named = [("meta", name) for name in spec.metas]
        named += [(f"layers.{i}.learners", name) for i, layer in enumerate(spec.layers) for name in layer.learners]
        for key, name in named:
            if name not in LEARNERS[task]:
                raise TunelabError(f"{spec_label}: key {key!r}: {name!r} is not a {task} learner (the data's task)")
        if SCORES[spec.scorer].task != task:
            raise TunelabError(f"{spec_label}: key 'scorer': {spec.scorer!r} is not a {task} score (the data's task)")
        return spec


def load_ensemble_spec(path: Path) -> EnsembleSpec:
    """Read and check an ensemble spec; TunelabError ``"<path>: key 'layers.0.type': …"``."""
    return load_spec(path, EnsembleSpec, ("StudySource", "RunSource"))
