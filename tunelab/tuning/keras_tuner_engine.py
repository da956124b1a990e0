"""The Keras Tuner engine: RandomSearch, Hyperband and BayesianOptimization oracles.

The hypermodel is built from the spec's JSON space (``hp.Float``, ``hp.Int``,
``hp.Choice``, ``hp.Fixed``); the tuner's ``run_trial`` runs the experiment as
a tracked Sacred run with the trial's values, and Hyperband's ``tuner/epochs``
sets the experiment's ``resource`` key (``epochs``). When Hyperband promotes a
trial and the experiment has the config keys ``warm_start_run`` and
``initial_epoch`` (the ``mlp`` has), the new run continues the promoted run's
stored model instead of training again from scratch, as Keras Tuner does.

The project lives in ``.tunelab/keras-tuner/<study>``; re-running the same
search reloads it (``overwrite=False``) and retries the trial that was running
when the previous process died. One process tunes a project at a time.
"""

from __future__ import annotations

import os
from typing import Any

import filelock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_tuner  # noqa: E402 (imports TensorFlow)

from tunelab import db
from tunelab.errors import TunelabError
from tunelab.settings import Settings
from tunelab.tracking import worker_process
from tunelab.tracking.liveness import fail_dead_runs
from tunelab.tracking.registry import load_experiment
from tunelab.tuning.keras_tuner_projects import ENGINE, count_trials, projects_dir, write_study_file
from tunelab.tuning.spec import CategoricalParam, FloatParam, SearchSpec
from tunelab.tuning.trials import run_trial

WARM_START_KEYS = {"warm_start_run", "initial_epoch"}


class SpaceHyperModel(keras_tuner.HyperModel):
    """A hypermodel whose hyperparameters are the spec's space; ``build`` declares them."""

    def __init__(self, spec: SearchSpec) -> None:
        super().__init__(name=spec.experiment)
        self.spec = spec

    def build(self, hp: keras_tuner.HyperParameters) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, param in self.spec.params.items():
            if isinstance(param, CategoricalParam):
                values[name] = hp.Choice(name, param.choices)
            elif isinstance(param, FloatParam):
                sampling = "log" if param.log else "linear"
                values[name] = hp.Float(name, param.low, param.high, step=param.step, sampling=sampling)
            else:
                values[name] = hp.Int(
                    name, param.low, param.high, step=param.step, sampling="log" if param.log else "linear"
                )
        return values


class TrackedTuner(keras_tuner.engine.base_tuner.BaseTuner):
    """A Keras Tuner tuner whose trials are tracked Sacred runs of the spec's experiment."""

    def __init__(self, settings: Settings, spec: SearchSpec) -> None:
        self.settings = settings
        self.spec = spec
        self.experiment_keys = list(load_experiment(settings.experiments_dir, spec.experiment).schema.model_fields)
        super().__init__(
            oracle=make_oracle(spec),
            hypermodel=SpaceHyperModel(spec),
            directory=str(projects_dir(settings)),
            project_name=spec.study_name,
            overwrite=False,
        )

    def run_trial(self, trial: keras_tuner.engine.trial.Trial) -> dict[str, float]:
        values = trial.hyperparameters.values
        params = {name: values[name] for name in self.spec.params if name in values}
        if "tuner/epochs" in values:
            params[self.spec.resource] = values["tuner/epochs"]
        if "tuner/trial_id" in values and WARM_START_KEYS <= set(self.experiment_keys):
            params["warm_start_run"] = self._run_of_trial(int(values["tuner/trial_id"]))
            params["initial_epoch"] = values["tuner/initial_epoch"]
        info = {"study": self.spec.study_name, "trial": int(trial.trial_id), "engine": ENGINE}
        with worker_process.run_in_progress():
            result = run_trial(self.settings, self.spec, params, info, lambda run_id: None)
        if result.outcome.status == "INTERRUPTED":
            raise KeyboardInterrupt
        if result.values is None:
            raise keras_tuner.errors.FailedTrialError(result.error or result.outcome.status)
        return {self.spec.metrics[0]: result.values[0]}

    def _run_of_trial(self, number: int) -> int:
        """The id of the completed Sacred run of this study's trial ``number``."""
        run = db.connect(self.settings)["runs"].find_one(
            {"info.study": self.spec.study_name, "info.trial": number, "status": "COMPLETED"},
            {"_id": 1},
            sort=[("start_time", -1), ("_id", -1)],  # ids follow start order only within a process
        )
        if run is None:
            raise keras_tuner.errors.FailedTrialError(f"no completed run of trial {number} to continue")
        return run["_id"]

    def on_trial_begin(self, trial) -> None:  # Keras Tuner prints a banner here
        pass

    def on_trial_end(self, trial) -> None:  # and a results table here
        self.oracle.end_trial(trial)
        self.save()


def make_oracle(spec: SearchSpec) -> keras_tuner.Oracle:
    objective = keras_tuner.Objective(spec.metrics[0], "max" if spec.directions[0] == "maximize" else "min")
    common = {"objective": objective, "seed": spec.seed, **spec.algorithm_options}
    try:
        match spec.algorithm:
            case "random":
                return keras_tuner.oracles.RandomSearchOracle(max_trials=spec.n_trials, **common)
            case "bayesian":
                return keras_tuner.oracles.BayesianOptimizationOracle(max_trials=spec.n_trials, **common)
            case "hyperband":
                return keras_tuner.oracles.HyperbandOracle(
                    max_epochs=spec.budget.max_epochs, factor=spec.budget.factor, **common
                )
    except TypeError as exc:
        raise TunelabError(f"{spec.source}: key 'algorithm_options': {exc}") from None
    raise AssertionError(f"unvalidated algorithm {spec.algorithm!r}")


def run_worker(settings: Settings, spec: SearchSpec) -> int:
    """Run (or resume) the search; returns how many trials this call ran."""
    project = write_study_file(settings, spec)
    try:
        held = filelock.FileLock(project / ".tunelab-lock").acquire(blocking=False)
    except filelock.Timeout:
        raise TunelabError(f"study {spec.study_name!r} is being tuned by another process") from None
    with held:
        # We hold the project: any RUNNING run of this study lost its process.
        reason = f"worker lost: a previous process tuning {spec.study_name} died"
        fail_dead_runs(db.connect(settings)["runs"], {"info.study": spec.study_name, "info.engine": ENGINE}, 0, reason)
        before = count_trials(settings, spec.study_name).finished
        tuner = TrackedTuner(settings, spec)
        try:
            tuner.search()
        except RuntimeError as exc:  # Keras Tuner gives up after consecutive failed trials
            raise TunelabError(f"study {spec.study_name!r}: {exc}") from None
    return count_trials(settings, spec.study_name).finished - before
