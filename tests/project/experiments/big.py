"""Prints ``output_mb`` megabytes and logs ``points`` values of one metric: for the 16 MB document limit."""

import sys

from pydantic import Field

from tunelab.tracking import ExperimentConfig, TrackedExperiment


class Config(ExperimentConfig):
    output_mb: int = Field(ge=0)
    points: int = Field(ge=0)


ex = TrackedExperiment("big", Config)


@ex.main
def run(output_mb, points):
    line = "x" * 99 + "\n"
    print("first line")
    for _ in range(output_mb * 10_000):
        sys.stdout.write(line)
    print("last line")
    for step in range(points):
        ex.log_scalar("loss", 1.0 / (step + 1), step)
    return points


if __name__ == "__main__":
    ex.run_commandline()
