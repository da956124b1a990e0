"""The tracking glue: one Keras Tuner execution as a tracked Sacred run in tunelab's database.

A run's config is what the build used (the active hyperparameters, plus
Hyperband's ``tuner/epochs``, ``tuner/initial_epoch``, ``tuner/bracket`` and
``tuner/round``); its info holds ``study``, ``trial``, ``engine``,
``execution``, ``worker`` (its tuner id) and ``pid``, ``objective`` and ``params`` as for every tunelab
trial, and ``continues`` (the run whose weights a promoted Hyperband trial
starts from). Every epoch's logs are logged as metrics while the model trains;
the trained model is the run's ``model.keras`` artifact.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import keras
import keras_tuner
from sacred import Experiment
from sacred.config.config_dict import ConfigDict
from sacred.run import Run

from tunelab import db
from tunelab.board.columns import summary_key
from tunelab.settings import Settings
from tunelab.tracking import worker_process
from tunelab.tracking.experiment import loaded_packages, offline, source_with_commit
from tunelab.tracking.liveness import fail_dead_runs
from tunelab.tracking.observers import tracking_observers

ENGINE = "keras-tuner"
MODEL_ARTIFACT = "model.keras"
HYPERBAND_KEYS = ("tuner/epochs", "tuner/initial_epoch", "tuner/bracket", "tuner/round")
DEAD_AFTER_S = 10.0  # Sacred beats every second: a run silent this long lost its process


def objective_of(objective: Any) -> dict[str, list[str]]:
    """``info.objective`` for a Keras Tuner objective (or multi-objective)."""
    parts = getattr(objective, "objectives", None) or [objective]
    return {
        "metrics": [p.name for p in parts],
        "directions": ["maximize" if p.direction == "max" else "minimize" for p in parts],
    }


@contextmanager
def used_hyperparameters(hp: keras_tuner.HyperParameters) -> Iterator[list[str]]:
    """Within the block, the names of the hyperparameters retrieved from ``hp`` (a build's), in order."""
    used: list[str] = []
    retrieve = hp._retrieve

    def recording(param):
        value = retrieve(param)
        if value is not None and param.name not in used:
            used.append(param.name)
        return value

    hp._retrieve = recording
    try:
        yield used
    finally:
        del hp._retrieve


class RunCallback(keras.callbacks.Callback):
    """Logs every epoch's logs to the run, and stores the trained model as its artifact."""

    def __init__(self, run: Run) -> None:
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        for name, value in (logs or {}).items():
            self.run.log_scalar(name, float(value), epoch + 1)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / MODEL_ARTIFACT
            self.model.save(path)
            self.run.add_artifact(str(path), name=MODEL_ARTIFACT, content_type="application/octet-stream")


class ExecutionTracker:
    """Records the executions of one study's trials as Sacred runs of one experiment.

    ``experiment`` names the hypermodel (the Sacred experiment's name);
    ``source`` is the file it is defined in (stored with every run), if any.
    """

    def __init__(
        self, settings: Settings, study: str, experiment: str, source: str | None, objective: Any, worker: str
    ) -> None:
        self.settings = settings
        self.study = study
        self.objective = objective_of(objective)
        self.worker = worker
        self.ex = Experiment(experiment, save_git_info=False)
        self.ex.dependencies = loaded_packages()
        self.ex.sources = set()
        if source:
            self.ex.base_dir = str(Path(source).parent)
            self.ex.mainfile = source_with_commit(source)
            self.ex.sources = {self.ex.mainfile}
        self._body: Callable[[Run], Any] = lambda run: None
        self._returned: Any = None

        @self.ex.main
        def execution(_run: Run) -> Any:
            self._returned, result = self._body(_run)
            return result

    def fail_dead_runs(self) -> list[Any]:
        """Mark FAILED this study's runs whose process died (silent for :data:`DEAD_AFTER_S`)."""
        reason = f"worker lost: the process running this {self.study} trial died"
        return fail_dead_runs(self.runs(), {"info.study": self.study}, DEAD_AFTER_S, reason)

    def runs(self):
        return db.connect(self.settings)["runs"]

    def best_run_of_trial(self, trial: int) -> int | None:
        """The completed run of ``trial`` with the best objective value (whose weights Keras Tuner kept)."""
        metric, direction = self.objective["metrics"][0], self.objective["directions"][0]
        extreme = "max" if direction == "maximize" else "min"

        def value(run: dict) -> float | None:
            return run.get("info", {}).get("summary", {}).get(summary_key(metric), {}).get(extreme)

        runs = list(self.runs().find({"info.study": self.study, "info.trial": trial, "status": "COMPLETED"}))
        scored = [run for run in runs if value(run) is not None]
        if not scored:
            return runs[-1]["_id"] if runs else None
        return (max if direction == "maximize" else min)(scored, key=value)["_id"]

    def continuation(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A Hyperband-promoted trial's (``tuner/trial_id`` in its ``values``) ``continues_trial`` and
        ``continues``, the run whose weights it continues; nothing for any other trial."""
        if "tuner/trial_id" not in values:
            return {}
        trial = int(values["tuner/trial_id"])
        return {"continues_trial": trial, "continues": self.best_run_of_trial(trial)}

    def execute(
        self,
        hp: keras_tuner.HyperParameters,
        used: list[str],
        trial: int,
        execution: int,
        body: Callable[[Run], tuple[Any, float | None]],
    ) -> Any:
        """Run ``body`` as a Sacred run of this trial's execution; returns what ``body`` returned first.

        ``body`` returns (what to hand back, the run's result). Its exceptions
        propagate once Sacred has recorded the run (FAILED, or INTERRUPTED for Ctrl-C).
        """
        values = hp.values
        config = {name: values[name] for name in used if name in values}
        config.update({key: values[key] for key in HYPERBAND_KEYS if key in values})
        info = {
            "study": self.study,
            "trial": trial,
            "engine": ENGINE,
            "execution": execution,
            "worker": self.worker,
            "pid": os.getpid(),
            "objective": self.objective,
            "params": sorted(used),
        }
        info.update(self.continuation(values))
        self.ex.configurations = [ConfigDict(config)]
        observers = tracking_observers(self.settings, offline=offline())
        self.ex.observers[:] = observers
        self._body = body
        try:
            with worker_process.run_in_progress():
                self.ex.run(info=info)
            return self._returned
        finally:
            self.ex.observers.clear()
            self._returned = None
