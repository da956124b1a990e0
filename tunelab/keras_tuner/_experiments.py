"""A JSON-space Keras Tuner search as a hypermodel search: each trial a tracked run of the spec's experiment.

:class:`SpaceHyperModel` is the spec's space as a ``build(hp)``: it declares
``hp.Float``, ``hp.Int``, ``hp.Choice`` and returns the values (the experiment
trains its own model). The tuners are the drop-in ones
(:mod:`tunelab.keras_tuner._tuners`: same project, crash resume and workers)
whose ``run_trial`` runs the experiment with the trial's values instead of
fitting a Keras model. Hyperband's ``tuner/epochs`` sets the experiment's
``resource`` key. A promoted trial's run records ``info.continues`` (the run
it continues); when the experiment has the config keys ``warm_start_run`` and
``initial_epoch`` (the ``mlp`` has), it continues that run's stored model
instead of training again from scratch, as Keras Tuner does.
"""

from __future__ import annotations

from typing import Any

import keras_tuner

from tunelab.keras_tuner._runs import ENGINE
from tunelab.keras_tuner._tuners import BayesianOptimization, Hyperband, RandomSearch, TrackedTuner
from tunelab.tracking import worker_process
from tunelab.tracking.registry import load_experiment
from tunelab.tuning.spec import CategoricalParam, FloatParam, SearchSpec
from tunelab.tuning.trials import run_trial

WARM_START_KEYS = {"warm_start_run", "initial_epoch"}


class SpaceHyperModel(keras_tuner.HyperModel):
    """The spec's space as a hypermodel: ``build`` declares its hyperparameters and returns their values."""

    def __init__(self, spec: SearchSpec) -> None:
        super().__init__(name=spec.experiment)
        self.spec = spec

    def build(self, hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, param in self.spec.params.items():
            if isinstance(param, CategoricalParam):
                values[name] = hp.Choice(name, param.choices)
            else:
                kind = hp.Float if isinstance(param, FloatParam) else hp.Int
                sampling = "log" if param.log else "linear"
                values[name] = kind(name, param.low, param.high, step=param.step, sampling=sampling)
        return values


class ExperimentTrials(TrackedTuner):
    """Mixin for a tracked tuner of a :class:`SpaceHyperModel`: a trial is one run of the spec's experiment."""

    hypermodel: SpaceHyperModel

    def _experiment(self) -> tuple[str, str | None]:
        return self.hypermodel.spec.experiment, None

    def run_trial(self, trial: keras_tuner.engine.trial.Trial, *args: Any, **kwargs: Any) -> dict[str, float]:
        spec = self.hypermodel.spec
        values = trial.hyperparameters.values
        params = {name: values[name] for name in spec.params if name in values}
        info: dict[str, Any] = {"study": self.study_name, "trial": int(trial.trial_id), "engine": ENGINE}
        info["worker"] = self.tuner_id
        if "tuner/epochs" in values:
            params[spec.resource] = values["tuner/epochs"]
        info.update(self.tracker.continuation(values))
        if "continues_trial" in info:
            keys = load_experiment(self.settings.experiments_dir, spec.experiment).schema.model_fields
            if WARM_START_KEYS <= set(keys):
                if info["continues"] is None:
                    raise keras_tuner.errors.FailedTrialError(f"no completed run of trial {info['continues_trial']}")
                params.update(warm_start_run=info["continues"], initial_epoch=values["tuner/initial_epoch"])
        with worker_process.run_in_progress():
            result = run_trial(self.settings, spec, params, info, lambda run_id: None)
        if result.outcome.status == "INTERRUPTED":
            raise KeyboardInterrupt
        if result.values is None:
            raise keras_tuner.errors.FailedTrialError(result.error or result.outcome.status)
        return {spec.metrics[0]: result.values[0]}


class ExperimentRandomSearch(ExperimentTrials, RandomSearch):
    """Random search over a JSON space, every trial a run of the spec's experiment."""


class ExperimentHyperband(ExperimentTrials, Hyperband):
    """Hyperband over a JSON space, every trial a run of the spec's experiment."""


class ExperimentBayesianOptimization(ExperimentTrials, BayesianOptimization):
    """Bayesian optimization over a JSON space, every trial a run of the spec's experiment."""


BY_ALGORITHM = {
    "random": ExperimentRandomSearch,
    "hyperband": ExperimentHyperband,
    "bayesian": ExperimentBayesianOptimization,
}
