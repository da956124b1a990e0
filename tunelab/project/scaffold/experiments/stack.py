"""Stacks learners rebuilt from earlier runs with mlens: `tunelab stack configs/ensemble/X.json` runs it.

The config is an ensemble spec (``tunelab/ensembling/spec.py``) plus the runs the CLI picked; what a run
records: ``tunelab/ensembling/experiment.py``.
"""

from tunelab.ensembling.experiment import stack_experiment

ex = stack_experiment()

if __name__ == "__main__":
    ex.run_commandline()
