"""fail_stale_trials against a real Optuna storage: inherited heartbeats and trials that finish meanwhile."""

from __future__ import annotations

import datetime as dt
import time

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from tunelab.tuning.optuna_engine import HEARTBEAT_ATTR, fail_stale_trials


def _study(tmp_path) -> optuna.Study:
    return optuna.create_study(storage=JournalStorage(JournalFileBackend(str(tmp_path / "journal.log"))))


def test_a_retried_trial_with_an_inherited_old_heartbeat_is_not_stale(test_project_env, tmp_path):
    study = _study(tmp_path)
    trial = study.ask()
    study._storage.set_trial_system_attr(trial._trial_id, HEARTBEAT_ATTR, time.time() - 100)  # the dead trial's
    assert fail_stale_trials(test_project_env.settings, study, study.get_trials()) == []


def test_a_trial_that_completes_while_judged_stale_is_left_alone(test_project_env, tmp_path):
    study = _study(tmp_path)
    trial = study.ask()
    (seen,) = study.get_trials()  # read as RUNNING, silent for long ...
    seen.datetime_start = dt.datetime.now() - dt.timedelta(seconds=100)
    study.tell(trial, 1.0)  # ... and completed by its worker before the tell
    assert fail_stale_trials(test_project_env.settings, study, [seen]) == []  # no "Cannot tell a COMPLETE trial"
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE"]
