"""The DVC pipeline (``dvc.yaml``): one plain function ``stage(settings, params) -> result`` per stage."""

from tunelab.pipeline.stages import STAGES, PipelineParams, load_params

__all__ = ["STAGES", "PipelineParams", "load_params"]
