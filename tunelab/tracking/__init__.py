"""Tracking runs: Sacred experiments, their configs, observers, batches and offline sync.

``ExperimentConfig`` and ``TrackedExperiment`` are imported on first use, so that
importing a submodule (:mod:`tunelab.tracking.worker_process`, which a command
needs before anything else) does not import Sacred and pandas (a second).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunelab.tracking.config import ExperimentConfig
    from tunelab.tracking.experiment import TrackedExperiment

__all__ = ["ExperimentConfig", "TrackedExperiment"]


def __getattr__(name: str) -> Any:
    if name == "ExperimentConfig":
        from tunelab.tracking.config import ExperimentConfig

        return ExperimentConfig
    if name == "TrackedExperiment":
        from tunelab.tracking.experiment import TrackedExperiment

        return TrackedExperiment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
