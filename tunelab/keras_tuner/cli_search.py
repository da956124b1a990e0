"""``tunelab tune`` for a hypermodel spec: the worker that runs the drop-in tuner on the spec's project.

The project lives in ``.tunelab/keras-tuner/<study>`` as for JSON-space
searches; re-running the same spec reloads it and retries the trial that was
running when the previous process died. One process tunes a project at a time.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

import filelock

from tunelab import db
from tunelab.errors import TunelabError
from tunelab.keras_tuner.distributed import parse_address, search_with_workers
from tunelab.keras_tuner.spec import HypermodelSpec
from tunelab.settings import Settings
from tunelab.tracking.liveness import fail_dead_runs
from tunelab.tuning.engines import Job, job
from tunelab.tuning.keras_tuner_projects import KerasTunerSearch, count_trials, projects_dir


def run_search(
    settings: Settings, spec: HypermodelSpec, workers: int = 1, address: tuple[str, int] | None = None
) -> int:
    """Worker entry point: run (or resume) the search; returns how many trials it finished.

    With ``workers`` > 1 this process is the chief of Keras Tuner's distributed
    mode, listening on ``address`` (see :mod:`tunelab.keras_tuner.distributed`).
    """
    import keras_tuner  # TensorFlow, in the worker only

    project = projects_dir(settings) / spec.study_name
    project.mkdir(parents=True, exist_ok=True)
    try:
        lock = filelock.FileLock(project / ".tunelab-lock", timeout=0).acquire()
    except filelock.Timeout:
        raise TunelabError(f"study {spec.study_name!r} is being tuned by another process") from None
    with lock:
        reason = f"worker lost: a previous process tuning {spec.study_name} died"
        fail_dead_runs(db.connect(settings)["runs"], {"info.study": spec.study_name, "status": "RUNNING"}, 0, reason)
        before = count_trials(settings, spec.study_name).finished
        try:
            if workers > 1:
                search_with_workers(settings, spec, workers, address)
            else:
                tuner, data = make_tuner(settings, spec)
                tuner.search(**data, **spec.fit)
        except (keras_tuner.errors.FatalError, RuntimeError) as exc:
            raise TunelabError(f"study {spec.study_name!r}: {str(exc).strip().splitlines()[-1]}") from None
    return count_trials(settings, spec.study_name).finished - before


def make_tuner(settings: Settings, spec: HypermodelSpec) -> tuple[Any, dict[str, Any]]:
    """The spec's tracked tuner on its project, and the data keyword arguments of ``search``."""
    import keras
    import keras_tuner

    from tunelab.keras_tuner import _tuners

    hypermodel = load_reference(settings, spec, "hypermodel")
    if isinstance(hypermodel, type) and issubclass(hypermodel, keras_tuner.HyperModel):
        hypermodel = hypermodel()
    build = hypermodel.build if isinstance(hypermodel, keras_tuner.HyperModel) else hypermodel
    try:
        model = build(keras_tuner.HyperParameters())
    except Exception as exc:  # noqa: BLE001 - the user's code: one line names it
        raise TunelabError(f"{spec.source}: key 'hypermodel': {spec.hypermodel} does not build: {exc!r}") from None
    if not isinstance(model, keras.Model):
        raise TunelabError(
            f"{spec.source}: key 'hypermodel': {spec.hypermodel} returned {type(model).__name__}, not a Keras model"
        )
    data = load_reference(settings, spec, "data")()
    if not isinstance(data, dict):
        raise TunelabError(f"{spec.source}: key 'data': {spec.data} must return a dict of search() arguments")
    objective = keras_tuner.Objective(spec.metric, "max" if spec.direction == "maximize" else "min")
    common = {
        "objective": objective,
        "seed": spec.seed,
        "directory": str(projects_dir(settings)),
        "project_name": spec.study_name,
        "study_name": spec.study_name,
        "overwrite": False,
        **spec.algorithm_options,
    }
    classes = {"random": _tuners.RandomSearch, "bayesian": _tuners.BayesianOptimization}
    try:
        if spec.algorithm == "hyperband":
            budget = {"max_epochs": spec.budget.max_epochs, "factor": spec.budget.factor}
            tuner = _tuners.Hyperband(hypermodel, **budget, **common)
        else:
            tuner = classes[spec.algorithm](hypermodel, max_trials=spec.budget.n_trials, **common)
    except (TypeError, ValueError) as exc:
        raise TunelabError(f"{spec.source}: key 'algorithm_options': {exc}") from None
    return tuner, data


def load_reference(settings: Settings, spec: HypermodelSpec, key: str) -> Any:
    """The object ``FILE.py:NAME`` of the spec's ``key`` names (the file imported once per process)."""
    file, _, name = getattr(spec, key).partition(":")
    path = (settings.project_dir / file).resolve()
    module_name = f"tunelab_hypermodels.{path.stem}"
    module = sys.modules.get(module_name)
    if module is None:
        sys.path.insert(0, str(path.parent))
        loader = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(loader)
        sys.modules[module_name] = module
        try:
            loader.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - the user's code: one line names it
            del sys.modules[module_name]
            raise TunelabError(f"{spec.source}: key '{key}': {file} fails to import: {exc!r}") from None
    if not hasattr(module, name):
        raise TunelabError(f"{spec.source}: key '{key}': {file} defines no {name!r}")
    return getattr(module, name)


class HypermodelSearch(KerasTunerSearch):
    """A search of a hypermodel spec: one process, or a chief and ``workers`` tuners (Keras Tuner's
    distributed mode) when ``workers`` > 1, its chief listening on ``oracle`` (``HOST[:PORT]``)."""

    def __init__(self, settings: Settings, spec: HypermodelSpec, storage_url: str | None, oracle: str) -> None:
        super().__init__(settings, spec, storage_url)
        self.oracle = oracle
        self.address: tuple[str, int] | None = None

    def check(self, workers: int) -> None:
        super().check(1)  # the workers are Keras Tuner's, under one chief process
        self.address = parse_address(self.oracle) if workers > 1 else None

    def jobs(self, workers: int) -> list[Job]:
        return [job(run_search, self.settings, self.spec, workers, self.address)]
