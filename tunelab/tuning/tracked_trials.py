"""One Optuna trial of a user's own ``objective(trial)``, run as a tracked Sacred run.

Shared by ``tunelab tune FILE.py:FUNCTION`` (:mod:`~tunelab.tuning.objectives`)
and the :func:`tunelab.optuna.track` decorator. The run's config is exactly the
parameters the trial suggested (a conditional one only when it was suggested),
saved with the run's next write after each suggestion, and its info names the
study and trial from its first write; ``trial.report(value, step)`` is also the
run's ``objective`` metric; the return value is the run's result (and, with
several objectives, the metrics ``result_0``, ``result_1``…); the objective's
file and its local imports are the run's sources.

Inside the objective, ``trial.run`` or :func:`current_run` is the run: log
metrics and save a model there. Each call builds its own Sacred experiment, so
trials may run in several threads at once (Optuna's ``n_jobs``).
"""

from __future__ import annotations

import contextvars
import logging
import math
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any

import optuna
from sacred import Experiment
from sacred.run import Run

from tunelab.data import Dataset
from tunelab.errors import TunelabError
from tunelab.settings import Settings
from tunelab.tracking.artifacts import save_model
from tunelab.tracking.experiment import gather_sources, load_recorded_data, loaded_packages
from tunelab.tracking.observers import METRIC_DIRECTIONS, tracking_observers
from tunelab.tuning.optuna_engine import RUN_ID_ATTR
from tunelab.tuning.trials import RunLink, TrialPruned

REPORT_METRIC = "objective"  # what trial.report(value, step) logs
ENGINE = "objective"

_LOGGER = logging.getLogger("tunelab.trials")  # Sacred logs each run's start and end at INFO
_LOGGER.setLevel(logging.WARNING)
_thread = threading.local()  # this thread's Sacred experiments, and the trial its experiment runs now
_current: contextvars.ContextVar[TrialRun | None] = contextvars.ContextVar("tunelab_current_run", default=None)


class TrialRun:
    """The handle an objective gets on its trial's run (``trial.run``, ``tunelab.current_run()``)."""

    def __init__(self, run: Run) -> None:
        self._run = run

    @property
    def id(self) -> int:
        """The run id in tunelab's database (``tunelab runs show ID``, ``tunelab.load_model(ID)``).

        It changes in the rare case that a stock Sacred run took the id first: when the run is inserted
        (0.1 s after its start), or, for a shorter trial, after it ended (the study then notes the move).
        """
        return self._run._id

    @property
    def info(self) -> dict[str, Any]:
        """The run's info, saved with the run (JSON values only)."""
        return self._run.info

    def log_scalar(self, name: str, value: float, step: int | None = None) -> None:
        self._run.log_scalar(name, value, step)

    def _replace_config(self, config: Mapping[str, Any]) -> None:
        """The run's stored config becomes ``config`` (the trial's parameters) at its next write."""
        for observer in self._run.observers:
            if hasattr(observer, "replace_config"):
                observer.replace_config(config)

    def load_data(self, name: str) -> Dataset:
        """Load a project data set and record its version (``tunelab stack`` refits on it)."""
        return load_recorded_data(self._run.info, name)

    def add_artifact(self, path: str | Path, name: str | None = None) -> None:
        self._run.add_artifact(str(path), name=name)

    def save_model(self, model: Any, name: str = "model.joblib") -> None:
        """Store a fitted model (scikit-learn, an mlens ensemble; Keras as ``*.keras``) for ``load_model``."""
        save_model(self._run.add_artifact, model, name)


class TrackedTrial(optuna.trial.Trial):
    """Optuna's trial, whose :meth:`report` is also logged, with :attr:`run`: its Sacred run.

    It shares the state of the trial Optuna handed out (no second ``Trial``
    is created, which would call the sampler's ``before_trial`` again).
    """

    def __init__(self, trial: optuna.trial.Trial, run: TrialRun) -> None:  # noqa: D107 - no super(): see above
        self.__dict__.update(vars(trial))
        self.run = run

    def _suggest(self, name: str, distribution: optuna.distributions.BaseDistribution) -> Any:
        """Optuna's one path for every ``suggest_*``: the run's config is the parameters suggested so far,
        saved with its next write (so a run whose process dies holds what it was trying)."""
        value = super()._suggest(name, distribution)
        self.run._replace_config(self.params)
        return value

    def report(self, value: float, step: int) -> None:
        super().report(value, step)
        self.run.log_scalar(REPORT_METRIC, value, step)


def current_run() -> TrialRun:
    """The run of the trial being evaluated in this thread; TunelabError outside a tracked objective."""
    run = _current.get()
    if run is None:
        raise TunelabError("tunelab.current_run(): no tracked trial is running here")
    return run


@dataclass(frozen=True)
class TrialOutcome:
    status: str  # COMPLETED, PRUNED or FAILED
    run_id: Any
    values: list[float] | None = None
    error: BaseException | None = None


def metric_names(n_objectives: int) -> list[str]:
    """What a study's objectives are called: the run's ``result``, or ``result_0``… for several."""
    return ["result"] if n_objectives == 1 else [f"result_{i}" for i in range(n_objectives)]


def track_trial(
    settings: Settings,
    experiment: str,
    objective: Callable[[optuna.trial.Trial], Any],
    trial: optuna.trial.Trial,
    info: Mapping[str, Any],
    threads: bool = False,
) -> TrialOutcome:
    """Evaluate ``objective(trial)`` as one Sacred run and say how it ended (Optuna is not told).

    ``info`` goes into the run's info. With ``threads``, the run does not
    capture stdout (it is shared by every thread). KeyboardInterrupt propagates
    once the run is recorded INTERRUPTED.
    """
    n_objectives = len(trial.study.directions)
    ex = _experiment(experiment, objective.__module__)
    link = RunLink(partial(trial.set_user_attr, RUN_ID_ATTR))

    def main(_run: Run) -> list[float] | float:
        link.start(_run._id)
        tracked = TrackedTrial(trial, TrialRun(_run))
        tracked.run._replace_config({})  # not Sacred's seed: the parameters suggested so far, none yet
        token = _current.set(tracked.run)
        try:
            values = objective_values(objective(tracked), n_objectives)
        except optuna.TrialPruned as exc:
            raise TrialPruned(str(exc) or "pruned") from None
        finally:
            _current.reset(token)
            _run.info["params"] = sorted(tracked.params)  # what was suggested, also when the objective raised
        if n_objectives > 1:
            for name, value in zip(metric_names(n_objectives), values, strict=True):
                _run.log_scalar(name, value)
        return values[0] if n_objectives == 1 else values

    directions = _directions(trial)
    metrics = metric_names(n_objectives)
    info = {
        "objective": {"metrics": metrics, "directions": directions},
        # what "best" means in the run's summary (Omniboard's columns): the study's, not the names'
        METRIC_DIRECTIONS: {REPORT_METRIC: directions[0], **dict(zip(metrics, directions, strict=True))},
        **({"result_direction": directions[0]} if n_objectives == 1 else {}),
        **info,
        **({"trial": trial.number} if "study" in info else {}),  # a reproduction belongs to no study
    }
    options = {"--capture": "no"} if threads else None
    ex.observers[:] = tracking_observers(settings, info=info)  # in the run's insert: a lost run names its trial
    _thread.main = main
    try:
        run = ex.run(info=info, options=options)
        outcome = TrialOutcome("COMPLETED", run._id, run.result if isinstance(run.result, list) else [run.result])
    except TrialPruned:
        outcome = TrialOutcome("PRUNED", _run_id(ex))
    except Exception as exc:  # Sacred has recorded the run FAILED
        outcome = TrialOutcome("FAILED", _run_id(ex), error=exc)
    finally:
        ex.observers.clear()
        _thread.main = None
    link.settle(outcome.run_id)
    return outcome


def objective_values(returned: Any, n_objectives: int) -> list[float]:
    """The objective's return value as ``n_objectives`` finite floats; TunelabError if it is not."""
    values = list(returned) if isinstance(returned, (Sequence, tuple)) and not isinstance(returned, str) else [returned]
    if len(values) != n_objectives:
        raise TunelabError(
            f"the objective returned {len(values)} value(s) for a study with {n_objectives} direction(s)"
        )
    try:
        floats = [float(v) for v in values]
    except (TypeError, ValueError):
        raise TunelabError(f"the objective returned {returned!r}, not {n_objectives} number(s)") from None
    if not all(math.isfinite(v) for v in floats):
        raise ValueError(f"the objective returned {returned!r}, not finite")
    return floats


def _directions(trial: optuna.trial.Trial) -> list[str]:
    return [d.name.lower() for d in trial.study.directions]


def _run_id(ex: Experiment) -> Any:
    return ex.current_run._id if ex.current_run is not None else None


def _experiment(name: str, module: str) -> Experiment:
    """This thread's Sacred experiment ``name``, whose sources are ``module`` and its local imports.

    Made once per thread (Sacred reads the sources then) and run once per
    trial; its main function runs the trial this thread set in ``_thread.main``.
    """
    experiments = _thread.__dict__.setdefault("experiments", {})
    if (name, module) not in experiments:
        ex = Experiment(name, save_git_info=False)
        # Sacred's CLI commands (print_config…): never run here, yet each costs a random generator per run
        ex.commands.clear()
        ex.captured_functions.clear()
        ex.base_dir, ex.mainfile, ex.sources, ex.dependencies = _sources(module)
        ex.logger = _LOGGER
        experiment_info = ex.get_experiment_info()  # fixed from here on; Sacred rebuilds it for every run
        ex.get_experiment_info = lambda: dict(experiment_info)

        def run_thread_main(_run: Run) -> Any:  # one function per experiment: Sacred sets attributes on it
            return _thread.main(_run)

        ex.main(run_thread_main)
        experiments[name, module] = ex
    return experiments[name, module]


@cache
def _sources(module_name: str) -> tuple[str, Any, set, set]:
    """(base dir, main file, sources, packages) of a module, read once per process."""
    module = sys.modules[module_name]
    base_dir = str(Path(module.__file__).resolve().parent) if getattr(module, "__file__", None) else str(Path.cwd())
    mainfile, sources = gather_sources(vars(module), base_dir)
    return base_dir, mainfile, sources, loaded_packages()
