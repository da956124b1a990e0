"""Stacks learners rebuilt from earlier runs with mlens; `tunelab stack configs/ensemble/X.json` runs it.

The config is an ensemble spec (``tunelab/ensembling/spec.py``) plus the runs
the CLI picked; what a run records: ``tunelab/ensembling/experiment.py``.
"""

from tunelab.ensembling.experiment import StackConfig, fit_recorded_stack
from tunelab.tracking import TrackedExperiment

ex = TrackedExperiment("stack", StackConfig)


@ex.main
def run(_config, select_meta, seed):
    return fit_recorded_stack(ex, _config, select_meta, seed)


if __name__ == "__main__":
    ex.run_commandline()
