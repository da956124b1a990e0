"""Where base learners come from: finished runs, picked by id or as the top trials of a study.

Every learner is rebuilt from its run's recorded config by the experiment's
``make_estimator(**config)`` (the function the run itself trained with); a
trial of a user's own Optuna objective has no such function, so its saved model
is cloned (scikit-learn's ``clone``: same parameters, unfitted).
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from typing import Any

import sklearn.base

from tunelab import db
from tunelab.ensembling.spec import EnsembleSpec, RunSource, StudySource
from tunelab.errors import TunelabError
from tunelab.settings import Settings
from tunelab.tracking.artifacts import completed_run
from tunelab.tracking.registry import load_experiment
from tunelab.tuning.studies import load_study
from tunelab.tuning.tracked_trials import ENGINE
from tunelab.versioning.models import load_model


@dataclass(frozen=True)
class SourceRun:
    run_id: int
    experiment: str
    config: dict[str, Any]
    dataset: str
    from_objective: bool = False  # an Optuna objective's trial: rebuilt from its saved model

    @property
    def name(self) -> str:
        return f"run{self.run_id}-{self.experiment}"


def select_runs(settings: Settings, spec: EnsembleSpec, spec_label: str) -> list[SourceRun]:
    """The base learners' runs, in spec order, without duplicates; TunelabError names the source at fault."""
    run_ids: list[int] = []
    for index, source in enumerate(spec.base_learners):
        key = f"{spec_label}: key 'base_learners.{index}'"
        if isinstance(source, StudySource):
            run_ids += _top_runs(settings, source, key)
        elif isinstance(source, RunSource):
            run_ids += source.runs
    runs = [_load_run(settings, run_id, spec_label) for run_id in dict.fromkeys(run_ids)]
    if spec.layers[0].proba:
        for run in runs:
            if not hasattr(rebuild(settings, run), "predict_proba"):
                raise TunelabError(
                    f"{spec_label}: key 'layers.0.proba': the learner of run {run.run_id} ({run.experiment}) "
                    "predicts no probabilities"
                )
    datasets = {run.dataset for run in runs}
    if len(datasets) > 1:
        raise TunelabError(f"{spec_label}: the base learners were trained on different data sets: {sorted(datasets)}")
    return runs


def _top_runs(settings: Settings, source: StudySource, key: str) -> list[int]:
    try:
        report = load_study(settings, source.study, source.storage)
    except TunelabError as exc:
        raise TunelabError(f"{key}: {exc}") from None
    ranked = [t for t in report.ranked() if t.run_id is not None]
    if source.top > len(ranked):
        raise TunelabError(
            f"{key}: top {source.top} asked, but study {source.study!r} has {len(ranked)} complete trial(s)"
        )
    return [t.run_id for t in ranked[: source.top]]


def run_sources(settings: Settings, run_ids: list[int]) -> list[SourceRun]:
    """The source runs by id, as recorded (each must be COMPLETED and rebuildable)."""
    return [_load_run(settings, run_id, "source_runs") for run_id in run_ids]


def _load_run(settings: Settings, run_id: int, spec_label: str) -> SourceRun:
    fields = {"experiment.name": 1, "config": 1, "info.dataset": 1, "info.engine": 1}
    try:
        run = completed_run(db.connect(settings), run_id, fields, "stacked")
    except TunelabError as exc:
        raise TunelabError(f"{spec_label}: {exc}") from None
    info = run.get("info", {})
    source = SourceRun(
        run_id, run["experiment"]["name"], run["config"], info.get("dataset", "?"), info.get("engine") == ENGINE
    )
    rebuild(settings, source, spec_label)  # fail now, not after fitting half the ensemble
    return source


def rebuild(settings: Settings, source: SourceRun, spec_label: str = "") -> Any:
    """A fresh, unfitted learner configured as ``source`` was."""
    if source.from_objective:
        return sklearn.base.clone(load_model(settings, source.run_id))
    try:
        load_experiment(settings.experiments_dir, source.experiment)
    except TunelabError as exc:
        raise TunelabError(f"{spec_label}: run {source.run_id}: {exc}") from None
    module = sys.modules[f"tunelab_experiments.{source.experiment}"]
    make_estimator = getattr(module, "make_estimator", None)
    if make_estimator is None:
        raise TunelabError(
            f"{spec_label}: run {source.run_id}: experiment {source.experiment!r} cannot rebuild its learner "
            "(it defines no make_estimator)"
        )
    config = dict(source.config)
    if "dataset" in inspect.signature(make_estimator).parameters:
        config.setdefault("dataset", source.dataset)  # runs recorded before experiments took their data set
    try:
        return make_estimator(**config)
    except TypeError as exc:
        raise TunelabError(
            f"{spec_label}: run {source.run_id}: {source.experiment}.make_estimator does not take the run's config: "
            f"{exc}"
        ) from None
