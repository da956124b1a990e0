"""Keras Tuner with tracking: drop-in ``RandomSearch``, ``Hyperband``, ``BayesianOptimization`` (and ``GridSearch``).

``from tunelab.keras_tuner import RandomSearch`` instead of Keras Tuner's, and
every execution of every trial is a tracked run in tunelab's database. The
tuners are imported on first use (they import TensorFlow).
"""

from __future__ import annotations

from typing import Any

__all__ = ["BayesianOptimization", "GridSearch", "Hyperband", "RandomSearch"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from tunelab.keras_tuner import _tuners

        return getattr(_tuners, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
