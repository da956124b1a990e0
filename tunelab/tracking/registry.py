"""Finding experiments: ``experiments/<name>.py`` files that define a ``TrackedExperiment`` called ``ex``."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

from tunelab.errors import TunelabError
from tunelab.tracking.experiment import TrackedExperiment


def experiment_names(experiments_dir: Path) -> list[str]:
    return sorted(p.stem for p in experiments_dir.glob("*.py") if not p.name.startswith("_"))


def load_experiment(experiments_dir: Path, name: str) -> TrackedExperiment:
    """Import ``experiments_dir/name.py`` once per process and return its ``ex``."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):  # e.g. read from the database
        raise TunelabError(f"unknown experiment {name!r}: an experiment name is a Python identifier")
    module_name = f"tunelab_experiments.{name}"
    module = sys.modules.get(module_name)
    if module is None:
        if str(experiments_dir) not in sys.path:  # experiments import their shared helpers
            sys.path.insert(0, str(experiments_dir))
        path = experiments_dir / f"{name}.py"
        if not path.is_file():
            known = ", ".join(experiment_names(experiments_dir)) or "none"
            raise TunelabError(f"unknown experiment {name!r}: no {path} (known: {known})")
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    experiment = getattr(module, "ex", None)
    if not isinstance(experiment, TrackedExperiment):
        raise TunelabError(f"{module.__file__}: defines no TrackedExperiment named 'ex'")
    return experiment


def infer_experiment(experiments_dir: Path, config_path: Path) -> str:
    """The experiment a config file is for: the longest experiment name its file name starts with.

    ``svm.json``, ``svm_c10.json`` and ``svm-linear.json`` are all for ``svm``.
    """
    stem = config_path.stem
    matches = [
        name for name in experiment_names(experiments_dir) if stem == name or stem.startswith((f"{name}_", f"{name}-"))
    ]
    if not matches:
        raise TunelabError(
            f"{config_path}: cannot tell which experiment this config is for; name the file "
            f"<experiment>[_variant].json or pass --experiment (known: {', '.join(experiment_names(experiments_dir))})"
        )
    return max(matches, key=len)
