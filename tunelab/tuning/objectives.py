"""The objective engine: ``tunelab tune FILE.py:FUNCTION`` searches a user's own ``objective(trial)``.

Optuna's define-by-run: the function suggests what it needs as it runs, so a
parameter that only exists for one classifier is only suggested (and recorded)
when that classifier is picked. Workers, storages, heartbeats, retries of lost
trials and the exact trial budget are the JSON-spec engine's
(:func:`~tunelab.tuning.optuna_engine.work`); each trial is a tracked run
(:mod:`~tunelab.tuning.tracked_trials`).
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from tunelab.errors import TunelabError
from tunelab.settings import Settings
from tunelab.tuning.engines import Job, job
from tunelab.tuning.optuna_engine import OptunaSearch, work
from tunelab.tuning.spec import ObjectiveSpec
from tunelab.tuning.tracked_trials import ENGINE, track_trial

Objective = Callable[[optuna.trial.Trial], Any]
OBJECTIVE_REF = re.compile(r"^(?P<file>.+\.py):(?P<function>[A-Za-z_][A-Za-z0-9_]*)$")


class ObjectiveSearch(OptunaSearch):
    """A search of ``spec.objective``; the study records the objective and its experiment name."""

    engine = ENGINE

    def __init__(self, settings: Settings, spec: ObjectiveSpec, storage_url: str | None) -> None:
        objective = load_objective(spec.objective, settings.project_dir)  # bad input fails before any study exists
        if not spec.experiment:
            spec = spec.model_copy(update={"experiment": objective.__name__})
        super().__init__(settings, spec, storage_url)

    @property
    def attrs(self) -> dict[str, Any]:
        return {**super().attrs, "objective": self.spec.objective}

    def jobs(self, workers: int) -> list[Job]:
        return [job(run_worker, self.settings, self.spec, self.storage_url, i) for i in range(workers)]


def load_objective(ref: str, base_dir: Path) -> Objective:
    """Import ``FILE.py:FUNCTION`` (``FILE`` relative to ``base_dir``); TunelabError naming what is wrong.

    The function must take the trial as its one required argument.
    """
    match = OBJECTIVE_REF.match(ref)
    if match is None:
        raise TunelabError(f"{ref}: expected FILE.py:FUNCTION")
    path = (base_dir / match["file"]).resolve()
    if not path.is_file():
        raise TunelabError(f"{ref}: no such file {path}")
    module_name = f"tunelab_objectives.{path.stem}"
    module = sys.modules.get(module_name)
    if module is None or Path(module.__file__).resolve() != path:
        module = _import(path, module_name, ref)
    function = getattr(module, match["function"], None)
    if not callable(function):
        raise TunelabError(f"{ref}: {path.name} defines no function {match['function']!r}")
    try:
        inspect.signature(function).bind(None)
    except TypeError:
        raise TunelabError(f"{ref}: the objective must take one argument, the trial, as objective(trial)") from None
    return function


def _import(path: Path, module_name: str, ref: str) -> Any:
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # pickled objects defined there can be found again
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the user's module: any error is theirs to fix
        del sys.modules[module_name]
        raise TunelabError(f"{ref}: importing {path.name} failed: {type(exc).__name__}: {exc}") from None
    return module


def run_worker(settings: Settings, spec: ObjectiveSpec, storage_url: str | None, worker_index: int) -> int:
    """One worker process of an objective search (see :func:`~tunelab.tuning.optuna_engine.work`)."""
    objective = load_objective(spec.objective, settings.project_dir)
    info = {"engine": ENGINE, "objective_function": spec.objective}

    def run_and_tell(study: optuna.Study, trial: optuna.Trial) -> str | None:
        outcome = track_trial(settings, spec.experiment, objective, trial, {**info, "study": study.study_name})
        if outcome.values is not None:
            study.tell(trial, outcome.values)
            return None
        if outcome.status == "PRUNED":
            study.tell(trial, state=TrialState.PRUNED)
            return None
        error = f"{type(outcome.error).__name__}: {outcome.error}"
        trial.set_user_attr("error", error)
        study.tell(trial, state=TrialState.FAIL)
        if isinstance(outcome.error, TunelabError):  # the objective does not fit the study: stop now
            raise TunelabError(f"{spec.objective}: {outcome.error}")
        return error

    return work(settings, spec, storage_url, worker_index, run_and_tell)
