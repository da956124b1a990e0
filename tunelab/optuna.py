"""Tracking a user's own Optuna loop: ``@tunelab.optuna.track(experiment="name")``.

::

    @tunelab.optuna.track(experiment="digits")
    def objective(trial):
        ...
        trial.run.save_model(model)  # or tunelab.current_run()
        return accuracy

    optuna.create_study(direction="maximize").optimize(objective, n_trials=50, n_jobs=2)

Every call is one run in tunelab's database, as a ``tunelab tune`` trial is
(:mod:`~tunelab.tuning.tracked_trials`): config = the suggested parameters,
``trial.report`` = the ``objective`` metric, result = the return value. It is
what optuna-integration's ``MLflowCallback`` is for MLflow, and is safe with
``n_jobs > 1`` (each call has its own Sacred experiment; stdout is not captured).
A pruned trial raises ``optuna.TrialPruned`` and a failed one its error, so
Optuna records them as it would untracked.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import optuna

from tunelab.settings import Settings, load_settings
from tunelab.tuning.tracked_trials import ENGINE, metric_names, track_trial

__all__ = ["track"]


def track(
    experiment: str | None = None, settings: Settings | None = None
) -> Callable[[Callable[[optuna.trial.Trial], Any]], Callable[[optuna.trial.Trial], Any]]:
    """Decorate ``objective(trial)`` so that each call is a tracked run of ``experiment``.

    Args:
        experiment: the runs' experiment name (default: the function's name).
        settings: tunelab's settings (default: :func:`~tunelab.settings.load_settings`, read once).
    """

    def decorate(objective: Callable[[optuna.trial.Trial], Any]) -> Callable[[optuna.trial.Trial], Any]:
        name = experiment or objective.__name__
        labelled: set[tuple[int, str]] = set()

        @functools.wraps(objective)
        def tracked(trial: optuna.trial.Trial) -> Any:
            nonlocal settings
            settings = settings or load_settings()
            study = trial.study
            if (id(study._storage), study.study_name) not in labelled:
                _label_study(study, name)
                labelled.add((id(study._storage), study.study_name))
            info = {"engine": ENGINE, "study": study.study_name, "objective_function": objective.__qualname__}
            outcome = track_trial(settings, name, objective, trial, info, threads=True)
            if outcome.status == "PRUNED":
                raise optuna.TrialPruned()
            if outcome.error is not None:
                raise outcome.error
            return outcome.values[0] if len(outcome.values) == 1 else outcome.values

        return tracked

    return decorate


def _label_study(study: optuna.Study, experiment: str) -> None:
    """The user attributes tunelab's study pages read, unless the study has them."""
    if "experiment" not in study.user_attrs:
        attrs = {"experiment": experiment, "engine": ENGINE, "metrics": metric_names(len(study.directions))}
        for key, value in attrs.items():
            study.set_user_attr(key, value)
