"""The DVC pipeline (``dvc.yaml``): one plain function ``stage(settings, params) -> result`` per stage.

The functions are :data:`tunelab.pipeline.stages.STAGES`, imported by what runs them (it takes seconds).
"""

STAGE_NAMES = ("prepare", "train", "tune", "stack", "evaluate", "transform", "register")
"""The stages in ``dvc.yaml``'s order: the keys of :data:`tunelab.pipeline.stages.STAGES`."""

__all__ = ["STAGE_NAMES"]
