"""A fake learning curve: ``score`` climbs to ``x`` over ``steps`` steps. For search tests."""

import time

from pydantic import Field

from tunelab.tracking import ExperimentConfig, TrackedExperiment


class Config(ExperimentConfig):
    x: float = Field(ge=0, le=1)
    steps: int = Field(ge=1)
    sleep_s: float = Field(ge=0)


ex = TrackedExperiment("curve", Config)


@ex.main
def run(x, steps, sleep_s):
    for step in range(1, steps + 1):
        time.sleep(sleep_s)
        ex.log_scalar("score", x * step / steps, step)
    return x
