"""A project's ``stack`` experiment: ``experiments/stack.py`` (which ``tunelab stack`` and the pipeline's stack
stage run) is ``ex = stack_experiment()``, so every project stacks the same way.

A run records the source run ids, mlens's per-layer table, the held-out scores
of every base learner and of the ensemble, the verdict, the meta learner, the
direction of its scorer (``info.result_direction``: an rmse stack is better
lower) and the fitted ensemble as the artifact ``ensemble.joblib``.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from tunelab.ensembling import stacking
from tunelab.ensembling.sources import rebuild, run_sources
from tunelab.ensembling.spec import EnsembleSpec
from tunelab.scores import SCORES
from tunelab.settings import load_settings
from tunelab.tracking import TrackedExperiment
from tunelab.tracking.estimators import split


class StackConfig(EnsembleSpec):
    """An ensemble spec plus ``source_runs``, the runs the CLI picked, and whether to select the meta learner."""

    source_runs: list[int] = Field(min_length=1)
    select_meta: bool


def stack_experiment() -> TrackedExperiment:
    """The ``stack`` experiment of the calling file: its defaults are ``configs/stack.json`` beside that file's
    ``experiments/`` folder, and its runs fit :func:`fit_recorded_stack`."""
    ex = TrackedExperiment("stack", StackConfig, stacklevel=2)

    @ex.main
    def run(_config, select_meta, seed):
        return fit_recorded_stack(ex, _config, select_meta, seed)

    return ex


def fit_recorded_stack(ex: TrackedExperiment, config: Any, select_meta: bool, seed: int) -> float:
    """Fit the stack ``config`` (a :class:`StackConfig`; without meta or scorer, the data set's task's) describes,
    as the current run of ``ex``; returns the ensemble's held-out score."""
    config = json.loads(json.dumps(config))  # Sacred's read-only containers, as plain JSON
    spec = EnsembleSpec.model_validate({key: config[key] for key in EnsembleSpec.model_fields})
    settings = load_settings()
    sources = run_sources(settings, config["source_runs"])
    data = ex.load_data(sources[0].dataset)
    spec = spec.for_task(data.task, "config")
    X_train, X_test, y_train, y_test = split(data, spec.test_size, seed)
    base = [(source.name, rebuild(settings, source)) for source in sources]
    meta = spec.metas[0]
    if select_meta:
        meta, results = stacking.select_meta(spec, base, X_train, y_train)
        ex.info["meta_selection"] = {
            str(name): {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in row.items()}
            for name, row in results.iterrows()
        }
    result = stacking.fit_stack(spec, base, meta, X_train, X_test, y_train, y_test)
    best_name, best_score = result.best_single
    ex.info.update(
        source_runs=config["source_runs"],
        ensemble_data=result.layer_table,
        held_out={"base": result.base_scores, "ensemble": result.ensemble_score, "best_single": best_name},
        verdict="ensemble beats the best single learner"
        if result.beats_best_single
        else "ensemble does not beat the best single learner",
        meta_learner=meta,
        result_direction=SCORES[spec.scorer].direction,
    )
    ex.log_scalar("ensemble_held_out", result.ensemble_score)
    ex.log_scalar("best_single_held_out", best_score)
    ex.log_scalar("fit_seconds", result.fit_seconds)
    ex.save_model(result.ensemble, "ensemble.joblib")
    return result.ensemble_score
