"""``tunelab tune`` with the Keras Tuner engine: the worker that runs a tracked tuner on the spec's project.

Both kinds of spec take this path: a hypermodel spec (:mod:`tunelab.keras_tuner.spec`)
drives the drop-in tuners; a JSON-space spec (``configs/search/*.json`` with
``"engine": "keras-tuner"``) drives them with its space as the hypermodel
(:mod:`tunelab.keras_tuner._experiments`). The project lives in
``.tunelab/keras-tuner/<study>``; re-running the same spec reloads it and
retries the trial that was running when the previous process died. One
process tunes a project at a time (with ``--workers``, the chief).
"""

from __future__ import annotations

import importlib.util
import inspect
import shutil
import sys
from typing import Any

import filelock

from tunelab import db
from tunelab.errors import TunelabError
from tunelab.keras_tuner.distributed import search_failed, search_with_workers
from tunelab.keras_tuner.spec import HypermodelSpec, KerasTunerSpec
from tunelab.settings import Settings
from tunelab.tracking.liveness import fail_dead_runs
from tunelab.tuning.keras_tuner_projects import count_trials, projects_dir


def run_search(
    settings: Settings, spec: KerasTunerSpec, workers: int = 1, address: tuple[str, int] | None = None
) -> int:
    """Worker entry point: run (or resume) the search; returns how many trials it finished.

    With ``workers`` > 1 this process is the chief of Keras Tuner's distributed
    mode, listening on ``address`` (see :mod:`tunelab.keras_tuner.distributed`).
    """
    project = projects_dir(settings) / spec.study_name
    new = not project.exists()
    project.mkdir(parents=True, exist_ok=True)
    try:
        lock = filelock.FileLock(project / ".tunelab-lock", timeout=0).acquire()
    except filelock.Timeout:
        raise TunelabError(f"study {spec.study_name!r} is being tuned by another process") from None
    with lock:
        try:
            reason = f"worker lost: a previous process tuning {spec.study_name} died"
            fail_dead_runs(
                db.connect(settings)["runs"], {"info.study": spec.study_name, "status": "RUNNING"}, 0, reason
            )
            before = count_trials(settings, spec.study_name).finished
            if workers > 1:
                search_with_workers(settings, spec, workers, address)
            else:
                _search(settings, spec)
        except TunelabError:
            if new and [path.name for path in project.iterdir()] == [".tunelab-lock"]:  # refused before it began
                shutil.rmtree(project, ignore_errors=True)  # under the lock: no other command can be using it
            raise
    return count_trials(settings, spec.study_name).finished - before


def _search(settings: Settings, spec: KerasTunerSpec) -> None:
    """The whole search in this process."""
    import keras_tuner  # TensorFlow, in the worker only

    try:
        tuner, search_kwargs = make_tuner(settings, spec)
        tuner.search(**search_kwargs)
    except (keras_tuner.errors.FatalError, RuntimeError) as exc:
        raise search_failed(spec, exc) from None


def make_tuner(settings: Settings, spec: KerasTunerSpec) -> tuple[Any, dict[str, Any]]:
    """The spec's tracked tuner on its project, and the keyword arguments of its ``search``."""
    import keras_tuner

    from tunelab.keras_tuner import _experiments, _tuners

    if isinstance(spec, HypermodelSpec):
        hypermodel = _user_hypermodel(settings, spec)
        search_kwargs = {**_user_data(settings, spec), **_fit(spec, hypermodel)}
        classes, metric, direction = _tuners.BY_ALGORITHM, spec.metric, spec.direction
    else:
        hypermodel, search_kwargs = _experiments.SpaceHyperModel(spec), {"verbose": 0}
        classes, metric, direction = _experiments.BY_ALGORITHM, spec.metrics[0], spec.directions[0]
    common = {
        "objective": keras_tuner.Objective(metric, "max" if direction == "maximize" else "min"),
        "seed": spec.seed,
        "directory": str(projects_dir(settings)),
        "project_name": spec.study_name,
        "study_name": spec.study_name,
        "overwrite": False,
        **spec.algorithm_options,
    }
    if spec.algorithm == "hyperband":
        common |= {"max_epochs": spec.budget.max_epochs, "factor": spec.budget.factor}
    else:
        common["max_trials"] = spec.budget.n_trials
    try:
        return classes[spec.algorithm](hypermodel, **common), search_kwargs
    except (TypeError, ValueError) as exc:
        raise TunelabError(f"{spec.source}: key 'algorithm_options': {exc}") from None


def _user_hypermodel(settings: Settings, spec: HypermodelSpec) -> Any:
    """The spec's ``hypermodel``, checked to build a Keras model with default values."""
    import keras
    import keras_tuner

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
    return hypermodel


def _user_data(settings: Settings, spec: HypermodelSpec) -> dict[str, Any]:
    data = load_reference(settings, spec, "data")()
    if not isinstance(data, dict):
        raise TunelabError(f"{spec.source}: key 'data': {spec.data} must return a dict of search() arguments")
    return data


def _fit(spec: HypermodelSpec, hypermodel: Any) -> dict[str, Any]:
    """The spec's ``fit`` arguments, checked to be arguments of where ``search`` passes them: the hypermodel's
    own ``fit(hp, model, ...)`` if it has one (unchecked if that takes ``**kwargs``), else Keras's ``Model.fit``."""
    import keras
    import keras_tuner

    fit = keras.Model.fit
    if isinstance(hypermodel, keras_tuner.HyperModel) and type(hypermodel).fit is not keras_tuner.HyperModel.fit:
        fit = hypermodel.fit
    parameters = inspect.signature(fit).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()) and fit is not keras.Model.fit:
        return spec.fit
    known = [name for name in parameters if name not in ("self", "hp", "model", "x", "y")]
    for name in spec.fit:
        if name not in known:
            raise TunelabError(
                f"{spec.source}: key 'fit.{name}': not an argument of "
                f"{'Model' if fit is keras.Model.fit else type(hypermodel).__name__}.fit (known: {', '.join(known)})"
            )
    return spec.fit


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
