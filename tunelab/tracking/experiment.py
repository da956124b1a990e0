"""``TrackedExperiment``: a Sacred Experiment with tunelab's conventions built in."""

from __future__ import annotations

import atexit
import copy
import csv
import functools
import importlib.metadata
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import sacred.host_info
import sacred.initialize
from sacred import SETTINGS, Experiment
from sacred.dependencies import PackageDependency, Source, gather_sources_and_dependencies
from sacred.run import Run
from sacred.utils import SacredError

from tunelab import db
from tunelab.data import Dataset, load_dataset
from tunelab.data.declarations import check_dataset_key
from tunelab.errors import TunelabError
from tunelab.settings import load_settings
from tunelab.tracking import sacred_fixes
from tunelab.tracking.artifacts import read_artifact, save_model
from tunelab.tracking.config import ExperimentConfig, validate
from tunelab.tracking.observers import BEAT_INTERVAL_S, tracking_observers
from tunelab.tracking.scheduler import airflow_context

SETTINGS.DEFAULT_BEAT_INTERVAL = BEAT_INTERVAL_S
SETTINGS.CAPTURE_MODE = "sys"  # "fd" starts a tee process per run
sacred_fixes.install()  # output and metrics lost under load
SETTINGS.DISCOVER_DEPENDENCIES = "none"  # see loaded_packages

OFFLINE_ENV = "TUNELAB_OFFLINE"


@functools.cache
def _host_info(getters: tuple = ()) -> dict[str, Any]:
    return sacred.host_info.get_host_info(list(getters))


def _host_info_once(additional_host_info=None) -> dict[str, Any]:
    """Sacred's host info (platform, CPU, GPUs), read once per process rather than on every run.

    Sacred reads ``/proc/cpuinfo`` and starts ``nvidia-smi`` for each run; a
    search's worker starts hundreds of runs on the same host.
    """
    return copy.deepcopy(_host_info(tuple(additional_host_info or ())))


sacred.initialize.get_host_info = _host_info_once


class TrackedExperiment(Experiment):
    """A Sacred experiment whose config is checked against a schema.

    * Defaults come from ``configs/<name>.json`` beside the ``experiments/``
      folder the experiment file lives in.
    * Every config (Sacred's ``with`` or tunelab's ``--set``) is validated
      against ``schema`` before the run starts: a bad one starts no run.
    * Runs are observed by tunelab's database unless observers were attached,
      or by a local directory when ``TUNELAB_OFFLINE=1``.
    * A run made inside an Airflow task records it in ``info.airflow``
      (:mod:`tunelab.tracking.scheduler`).
    * :meth:`load_data` records the data version; :meth:`save_model` stores the
      fitted model as an artifact.
    * ``step_listeners`` are called with every :meth:`log_scalar` as it happens
      (a search reports intermediate values to its pruner this way).
    """

    def __init__(
        self,
        name: str,
        schema: type[ExperimentConfig],
        direction: Literal["maximize", "minimize"] = "maximize",
        stacklevel: int = 1,
    ) -> None:
        """``stacklevel`` (as in ``warnings.warn``): the frame whose file is the experiment's, 1 for the caller's;
        a library function that makes an experiment for its caller's file passes 2."""
        caller_globals = sys._getframe(stacklevel).f_globals
        experiment_dir = Path(caller_globals["__file__"]).resolve().parent
        super().__init__(name, base_dir=str(experiment_dir), save_git_info=False)
        # Sacred read the sources from *our* frame; read them from the experiment file's.
        self.doc = caller_globals.get("__doc__", "")
        self.mainfile, self.sources = gather_sources(caller_globals, self.base_dir)
        self.dependencies = loaded_packages()
        self.schema = schema
        self.direction = direction  # of the run's result: what "best" means in dashboards
        self.step_listeners: list[Callable[[str, float, int | None], None]] = []
        self.defaults_file = experiment_dir.parent / "configs" / f"{name}.json"
        self.add_config(str(self.defaults_file))

        def check_config(config, command_name, logger):  # Sacred inspects this signature
            return self._check_config(config, command_name)

        self.config_hook(check_config)

    def run(
        self, command_name=None, config_updates=None, named_configs=(), info=None, meta_info=None, options=None
    ) -> Run:
        """Sacred's ``run``, observed by tunelab's database unless observers are attached."""
        added = [] if self.observers else tracking_observers(load_settings(), offline=offline())
        self.observers.extend(added)
        scheduled = {"airflow": context} if (context := airflow_context()) else {}
        info = {"uid": uuid.uuid4().hex, "result_direction": self.direction, **scheduled, **(info or {})}
        try:
            return super().run(command_name, config_updates, named_configs, info, meta_info, options)
        finally:
            for observer in added:
                self.observers.remove(observer)

    def run_commandline(self, argv=None) -> Run | None:
        """Sacred's command line; a config or database problem is one line and exit 2."""
        try:
            return super().run_commandline(argv)
        except TunelabError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None

    def log_scalar(self, name: str, value: float, step: int | None = None) -> None:
        """Sacred's ``log_scalar``, then every step listener (which may interrupt the run)."""
        super().log_scalar(name, value, step)
        for listener in self.step_listeners:
            listener(name, value, step)

    def load_data(self, name: str) -> Dataset:
        """Load a data set and record its name, version and path (relative to the project) in the run's info."""
        return load_recorded_data(self._current().info, name)

    def load_artifact(self, run_id: int, name: str) -> Path:
        """Download artifact ``name`` of run ``run_id`` from tunelab's database; returns a local path.

        The file lives in a temporary directory until the process exits.
        Raises TunelabError if the run has no such artifact.
        """
        content = read_artifact(db.connect(load_settings()), run_id, name)
        directory = Path(tempfile.mkdtemp(prefix=f"tunelab-run{run_id}-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        path = directory / name
        path.write_bytes(content)
        return path

    def save_model(self, model: Any, name: str = "model.joblib") -> None:
        """Store a fitted model as an artifact of the current run (Keras models as ``.keras``)."""
        save_model(self.add_artifact, model, name)

    def _current(self) -> Run:
        if self.current_run is None:
            raise RuntimeError("only available while a run is going")
        return self.current_run

    def _check_config(self, config: dict, command_name: str) -> dict:
        if command_name != self.default_command:
            return {}
        try:
            check_dataset_key(load_settings(), validate(self.schema, {"config": config}), "config")
        except TunelabError as exc:
            raise SacredError(str(exc), print_traceback=False) from None
        return {}


def load_recorded_data(info: dict[str, Any], name: str) -> Dataset:
    """Load declared data set ``name`` (``[data.NAME]`` in tunelab.toml) and record its name, task, version
    (DVC's md5 of the file) and path (relative to the project) in a run's ``info``."""
    settings = load_settings()
    dataset = load_dataset(name, settings)
    info["dataset"] = dataset.name
    info["task"] = dataset.task
    info["data_version"] = dataset.version
    info["data_path"] = os.path.relpath(dataset.path, settings.project_dir)
    return dataset


def gather_sources(module_globals: dict[str, Any], base_dir: str) -> tuple[Any, set]:
    """Sacred's main file and sources of a module (the file and its local imports), with the git commit of
    their repository (none in a repository without a commit yet)."""
    try:
        mainfile, sources, _ = gather_sources_and_dependencies(module_globals, True, base_dir)
    except ValueError:  # a git repository without a commit yet
        mainfile, sources, _ = gather_sources_and_dependencies(module_globals, False, base_dir)
    return mainfile, sources


def source_with_commit(path: str) -> Source:
    """Sacred's record of a source file, with its repository's commit (none in a repository without one yet)."""
    try:
        return Source.create(path, save_git_info=True)
    except ValueError:  # a git repository without a commit yet
        return Source.create(path, save_git_info=False)


def loaded_packages() -> set[PackageDependency]:
    """Every installed distribution with a module loaded now, at its version (a run's dependencies).

    Sacred maps modules to distributions through ``top_level.txt``, which
    today's wheels (scikit-learn's, for one) no longer ship.
    """
    loaded = {name.partition(".")[0] for name in sys.modules if not name.startswith("_")}
    distributions = distributions_by_module()
    names = {dist.metadata["Name"] for module in loaded for dist in distributions.get(module, ())}
    return {PackageDependency(name, importlib.metadata.version(name)) for name in names}


def distributions_by_module() -> dict[str, list[importlib.metadata.Distribution]]:
    """``importlib.metadata.packages_distributions()`` with the distributions themselves, in a fraction of its time.

    The standard library parses every distribution's metadata (for its name)
    and turns every file its ``RECORD`` lists into a path object (0.1 to 0.45 s
    for 260 distributions here, paid by each process's first experiment); here
    names are left to the caller (a run needs those of its loaded modules
    only) and a ``RECORD`` line becomes a top-level name by string operations,
    with the standard library's path rules wherever a line is unusual.
    """
    found: dict[str, list[importlib.metadata.Distribution]] = {}
    for dist in importlib.metadata.distributions():
        for module in (dist.read_text("top_level.txt") or "").split() or _top_level_inferred(dist):
            found.setdefault(module, []).append(dist)
    return found


def _top_level_inferred(dist: importlib.metadata.Distribution) -> set[str]:
    """The standard library's ``importlib.metadata._top_level_inferred``: the top-level name of each ``.py`` file."""
    text = dist.read_text("RECORD")
    lines = text and text.splitlines()
    if not lines:  # egg-info: SOURCES.txt's lines, which may hold commas, as one quoted field each
        text = dist.read_text("SOURCES.txt")
        lines = text and [f'"{line}"' for line in text.splitlines()]
    modules = set()
    for line in lines or ():
        path = next(csv.reader([line]), [""])[0] if '"' in line else line.partition(",")[0]
        if not path.endswith(".py"):
            continue
        if path.startswith(("/", "./")) or "//" in path or "/./" in path:  # let the path object normalise it
            file = importlib.metadata.PackagePath(path)
            if file.suffix == ".py":
                modules.add(file.parts[0] if len(file.parts) > 1 else file.with_suffix("").name)
            continue
        top, slash, _ = path.partition("/")
        if len(path.rpartition("/")[2]) > len(".py"):  # "x.py" has the suffix .py; ".py" has none
            modules.add(top if slash else path[: -len(".py")])
    return modules


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").lower() in ("1", "true", "yes")
