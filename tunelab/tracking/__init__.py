"""Tracking runs: Sacred experiments, their configs, observers, batches and offline sync."""

from tunelab.tracking.config import ExperimentConfig
from tunelab.tracking.experiment import TrackedExperiment

__all__ = ["ExperimentConfig", "TrackedExperiment"]
