"""Keras Tuner's tuners with every execution a tracked run (see :mod:`tunelab.keras_tuner._runs`).

Same arguments and methods as Keras Tuner's classes, plus ``study_name``
(default: ``project_name`` when given, else the name of ``directory``).
The study is registered under ``.tunelab/keras-tuner/<study>`` (a link to the
project directory) so ``tunelab study`` and ``tunelab stack`` find it.
"""

from __future__ import annotations

import inspect
import json
import os
import time
from pathlib import Path
from typing import Any

import keras_tuner
from keras_tuner.src import utils as kt_utils
from keras_tuner.src.backend import config as kt_config
from keras_tuner.src.engine import tuner_utils

from tunelab.keras_tuner._runs import ExecutionTracker, RunCallback, objective_of, used_hyperparameters
from tunelab.settings import Settings, load_settings
from tunelab.tuning.keras_tuner_projects import STUDY_FILE, projects_dir

IDLE_WAIT_S = 0.2  # between asks while the oracle has no trial to give (Hyperband waits for a rung)


class TrackedTuner(keras_tuner.Tuner):
    """Mixin for a Keras Tuner tuner class: executions become Sacred runs of the study."""

    def __init__(self, *args: Any, study_name: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = load_settings()
        self.study_name = study_name or kwargs.get("project_name") or Path(self.directory).resolve().name
        experiment, source = self._experiment()
        self.tracker = ExecutionTracker(
            self.settings, self.study_name, experiment, source, self.oracle.objective, self.tuner_id
        )
        self._execution = 0
        self._asked_in_vain = False
        if not self._is_worker():
            register_project(self.settings, self.study_name, Path(self.project_dir), experiment, self.oracle.objective)
            self.tracker.fail_dead_runs()

    def _experiment(self) -> tuple[str, str | None]:
        """The runs' experiment name (``FILE.build_model``, or the HyperModel's class) and its source file."""
        build = getattr(self.hypermodel, "build", None)
        source = _source_file(build)
        name = build.__name__ if inspect.isfunction(build) else type(self.hypermodel).__name__
        return (f"{Path(source).stem}.{name}" if source else name), source

    def on_search_begin(self) -> None:
        # Keras Tuner reloads a project only when the tuner's own file exists (BaseTuner.__init__), and
        # writes it only when a trial ends: without this, a search killed in its first trial started
        # afresh and drew that trial's values again instead of retrying them.
        super().on_search_begin()
        self.save()

    def pre_create_trial(self) -> None:
        if self._asked_in_vain:  # the oracle answered IDLE: do not ask it again at once
            time.sleep(IDLE_WAIT_S)
        self._asked_in_vain = True

    def on_trial_begin(self, trial) -> None:
        self._asked_in_vain = False
        super().on_trial_begin(trial)

    def run_trial(self, trial, *args: Any, **kwargs: Any) -> Any:
        self._execution = 0
        return super().run_trial(trial, *args, **kwargs)

    def _build_and_fit_model(self, trial, *args: Any, **kwargs: Any) -> Any:
        """Keras Tuner's build and fit, the fit as a tracked run (a build that fails is a FAILED run)."""
        hp = trial.hyperparameters
        with used_hyperparameters(hp) as used:
            try:
                model, error = self._try_build(hp), None
            except keras_tuner.errors.FatalError:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded as the run's failure, then re-raised
                model, error = None, exc

        def fit(run) -> tuple[Any, float | None]:
            if error is not None:
                raise error
            kwargs["callbacks"] = [*kwargs.get("callbacks", []), RunCallback(run)]
            results = self.hypermodel.fit(hp, model, *args, **kwargs)
            if kt_config.multi_backend():
                kt_utils.save_json(self._get_build_config_fname(trial.trial_id), model.get_build_config())
            _check_objective(self.oracle.objective, results)
            tuner_utils.validate_trial_results(results, self.oracle.objective, "HyperModel.fit()")
            metrics = tuner_utils.convert_to_metrics_dict(results, self.oracle.objective)
            return results, metrics.get(self.oracle.objective.name)

        execution, self._execution = self._execution, self._execution + 1
        return self.tracker.execute(hp, used, int(trial.trial_id), execution, fit)


def _check_objective(objective: Any, results: Any) -> None:
    """A History without the objective's metric: a misspelt objective, fatal for the whole search."""
    history = getattr(results, "history", None)
    if isinstance(history, dict) and not objective.has_value({k: v[-1] for k, v in history.items() if v}):
        raise keras_tuner.errors.FatalValueError(
            f"objective {objective.name!r} is not a metric the model logs (it logs: {', '.join(history)})"
        )


def _source_file(build: Any) -> str | None:
    try:
        path = inspect.getsourcefile(build)
    except TypeError:
        return None
    return path if path and os.path.isfile(path) else None


def register_project(settings: Settings, study: str, project: Path, experiment: str, objective: Any) -> None:
    """Write the study file into ``project`` and link it from ``.tunelab/keras-tuner/<study>``."""
    about = objective_of(objective)
    info = {"experiment": experiment, "metric": about["metrics"][0], "direction": about["directions"][0]}
    (project / STUDY_FILE).write_text(json.dumps(info))
    link = projects_dir(settings) / study
    if link.resolve() == project.resolve():
        return
    if link.is_symlink():
        link.unlink()
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(project.resolve(), target_is_directory=True)


class RandomSearch(TrackedTuner, keras_tuner.RandomSearch):
    """``keras_tuner.RandomSearch``, every execution a tracked run."""


class Hyperband(TrackedTuner, keras_tuner.Hyperband):
    """``keras_tuner.Hyperband``, every execution a tracked run; a promoted trial's run records ``info.continues``."""


class BayesianOptimization(TrackedTuner, keras_tuner.BayesianOptimization):
    """``keras_tuner.BayesianOptimization``, every execution a tracked run."""


class GridSearch(TrackedTuner, keras_tuner.GridSearch):
    """``keras_tuner.GridSearch``, every execution a tracked run."""


BY_ALGORITHM = {"random": RandomSearch, "hyperband": Hyperband, "bayesian": BayesianOptimization}
