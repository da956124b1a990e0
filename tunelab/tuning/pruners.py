"""Optuna pruners by the names search specs use."""

from __future__ import annotations

import optuna

from tunelab.errors import TunelabError
from tunelab.tuning.spec import ObjectiveSpec, SearchSpec

_PRUNERS = {
    "none": optuna.pruners.NopPruner,
    "median": optuna.pruners.MedianPruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
}


def make_pruner(spec: SearchSpec | ObjectiveSpec) -> optuna.pruners.BasePruner:
    """The pruner for ``spec.pruner``; it sees the values the objective metric takes at each step."""
    try:
        return _PRUNERS[spec.pruner.name](**spec.pruner.options)
    except (TypeError, ValueError) as exc:
        raise TunelabError(f"{spec.source}: key 'pruner.options': {exc}") from None
