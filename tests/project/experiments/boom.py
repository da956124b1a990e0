"""Always fails after logging one metric: for FAILED-status tests."""

from tunelab.tracking import ExperimentConfig, TrackedExperiment


class Config(ExperimentConfig):
    message: str


ex = TrackedExperiment("boom", Config)


@ex.main
def run(message):
    ex.log_scalar("progress", 0.5)
    raise RuntimeError(message)


if __name__ == "__main__":
    ex.run_commandline()
