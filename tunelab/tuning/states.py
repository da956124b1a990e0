"""Trial states: Optuna's ``TrialState`` is tunelab's one vocabulary, displayed by its name (``COMPLETE``).

The two other vocabularies map onto it here and nowhere else: a trial run's
Sacred status in the database (tunelab adds ``PRUNED``), and a Keras Tuner
trial's status in its project directory.
"""

from __future__ import annotations

from optuna.trial import TrialState

RUN_STATUS_STATES = {
    "COMPLETED": TrialState.COMPLETE,
    "PRUNED": TrialState.PRUNED,
    "FAILED": TrialState.FAIL,
    "INTERRUPTED": TrialState.FAIL,
    "TIMEOUT": TrialState.FAIL,
}
KERAS_TUNER_STATES = {"COMPLETED": TrialState.COMPLETE, "RUNNING": TrialState.RUNNING, "IDLE": TrialState.WAITING}


def run_state(status: str) -> TrialState | None:
    """The state of a trial whose run has ``status``; None while the run has not finished (or is queued)."""
    return RUN_STATUS_STATES.get(status)


def keras_tuner_state(status: str) -> TrialState:
    """The state of a Keras Tuner trial; its failed, invalid and stopped trials all count as FAIL."""
    return KERAS_TUNER_STATES.get(status, TrialState.FAIL)
