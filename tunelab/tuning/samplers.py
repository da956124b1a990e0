"""Optuna samplers by the names search specs use."""

from __future__ import annotations

import importlib.util
import sys

import optuna

from tunelab.errors import TunelabError
from tunelab.tuning.spec import ObjectiveSpec, SearchSpec, grid_values


class _AskTellGridSampler(optuna.samplers.GridSampler):
    """GridSampler without its ``study.stop()``, which only works inside ``Study.optimize``.

    tunelab's workers stop by the trial budget, which a grid spec caps at the grid's size.
    """

    def after_trial(self, study, trial, state, values) -> None:
        pass


def make_sampler(spec: SearchSpec | ObjectiveSpec, seed: int | None) -> optuna.samplers.BaseSampler:
    """The sampler for ``spec.algorithm`` with ``spec.algorithm_options`` as keyword arguments.

    ``seed`` is this worker's (workers must not draw the same random numbers).
    """
    options = dict(spec.algorithm_options)
    try:
        match spec.algorithm:
            case "tpe":
                return optuna.samplers.TPESampler(seed=seed, **options)
            case "cmaes":
                return optuna.samplers.CmaEsSampler(seed=seed, **options)
            case "random":
                return optuna.samplers.RandomSampler(seed=seed, **options)
            case "grid":  # every worker must number the grid alike: one seed for all
                return _AskTellGridSampler(grid_values(spec), seed=spec.seed or 0, **options)
            case "nsga2":
                return optuna.samplers.NSGAIISampler(seed=seed, **options)
            case "gp":
                if importlib.util.find_spec("torch") is None:
                    instead = (
                        ", or use engine keras-tuner with algorithm bayesian" if isinstance(spec, SearchSpec) else ""
                    )
                    raise TunelabError(
                        f"{spec.source}: key 'algorithm': Optuna's GP sampler needs PyTorch, which is not "
                        f"installed; install it with `{sys.executable} -m pip install 'torch==2.13.*'`{instead}"
                    )
                return optuna.samplers.GPSampler(seed=seed, **options)
    except TypeError as exc:  # an unknown keyword in algorithm_options
        raise TunelabError(f"{spec.source}: key 'algorithm_options': {exc}") from None
    raise AssertionError(f"unvalidated algorithm {spec.algorithm!r}")
