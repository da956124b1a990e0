"""Logs and prints one line per step and sleeps between steps: for live-metric, output and Ctrl-C tests."""

import time

from pydantic import Field

from tunelab.tracking import ExperimentConfig, TrackedExperiment


class Config(ExperimentConfig):
    steps: int = Field(ge=0)
    sleep_s: float = Field(ge=0)


ex = TrackedExperiment("slow", Config)


@ex.main
def run(steps, sleep_s):
    for step in range(steps):
        ex.log_scalar("value", float(step), step)
        print(f"step {step} done")
        time.sleep(sleep_s)
    return steps


if __name__ == "__main__":
    ex.run_commandline()
