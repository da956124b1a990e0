"""A stack as a tracked run: pick the base learners' runs, then run the ``stack`` experiment on them."""

from __future__ import annotations

from tunelab.data import declaration
from tunelab.ensembling.sources import select_runs
from tunelab.ensembling.spec import EnsembleSpec
from tunelab.settings import Settings
from tunelab.tracking.runner import RunOutcome, execute, prepare_run


def run_stack(settings: Settings, spec: EnsembleSpec, spec_label: str, select_meta: bool = False) -> RunOutcome:
    """Fit the stack ``spec`` describes as a run of ``experiments/stack.py``.

    The meta learner and scorer the spec leaves out are its data set's task's
    (:meth:`EnsembleSpec.for_task`), and the run's config records them. Bad
    sources (a missing study or run, a learner that cannot be rebuilt) or learners
    and scorers of the other task raise TunelabError naming ``spec_label``; a
    failing fit is a FAILED outcome.
    """
    sources = select_runs(settings, spec, spec_label)
    spec = spec.for_task(declaration(settings, sources[0].dataset).task, spec_label)
    updates = {**spec.model_dump(), "source_runs": [s.run_id for s in sources], "select_meta": select_meta}
    return execute(settings, prepare_run(settings, "stack", updates={spec_label: updates}))
