"""Data set declarations: the ``[data.NAME]`` tables of ``tunelab.toml``.

::

    [data.diabetes]
    path = "data/raw/diabetes.csv"   # relative to the project; CSV, Parquet or .npy
    target = "target"                # the column to predict
    task = "regression"              # or "classification"
    drop = ["id"]                    # columns that are not features (optional)
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from tunelab.errors import TunelabError
from tunelab.settings import PROJECT_FILE, Settings

Task = Literal["classification", "regression"]
TASKS: tuple[str, ...] = get_args(Task)
NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class DataSpec:
    name: str
    path: str  # relative to the project
    target: str
    task: Task
    drop: tuple[str, ...] = field(default=())

    def to_toml(self) -> str:
        drop = ", ".join(f'"{c}"' for c in self.drop)
        return (
            f'\n[data.{self.name}]\npath = "{self.path}"\ntarget = "{self.target}"\ntask = "{self.task}"\n'
            f"drop = [{drop}]\n"
        )


def declarations(settings: Settings) -> dict[str, DataSpec]:
    """Every data set ``tunelab.toml`` declares, by name; TunelabError naming a malformed one."""
    project_file = settings.project_dir / PROJECT_FILE
    try:
        tables = tomllib.loads(project_file.read_text()).get("data", {})
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise TunelabError(f"{project_file}: invalid TOML: {exc}") from None
    specs = {}
    for name, table in tables.items():
        where = f"{project_file}: [data.{name}]"
        unknown = set(table) - {"path", "target", "task", "drop"}
        if unknown or not {"path", "target", "task"} <= set(table):
            raise TunelabError(f"{where}: needs path, target and task (and optionally drop), got {sorted(table)}")
        if table["task"] not in TASKS:
            raise TunelabError(f"{where}: task must be one of {', '.join(TASKS)}, got {table['task']!r}")
        specs[name] = DataSpec(name, table["path"], table["target"], table["task"], tuple(table.get("drop", ())))
    return specs


def declaration(settings: Settings, name: str) -> DataSpec:
    """The declaration of data set ``name``; TunelabError listing the known ones."""
    known = declarations(settings)
    if name not in known:
        listed = ", ".join(known) or f"none: declare one with `tunelab data add FILE --name {name} --target COLUMN`"
        raise TunelabError(f"unknown data set {name!r} (known: {listed})")
    return known[name]


def check_dataset_key(settings: Settings, config: Mapping[str, Any], origin: str) -> None:
    """A run config's ``dataset`` key (how tunelab's experiments and the pipeline choose their data) must
    name a declared data set; TunelabError ``"<origin>: key 'dataset': ..."`` otherwise."""
    name = config.get("dataset")
    if isinstance(name, str):
        try:
            declaration(settings, name)
        except TunelabError as exc:
            raise TunelabError(f"{origin}: key 'dataset': {exc}") from None


def declare(settings: Settings, spec: DataSpec) -> Path:
    """Append ``spec`` to ``tunelab.toml``; TunelabError if the name is taken or not a plain word."""
    if not NAME.match(spec.name):
        raise TunelabError(f"data set name {spec.name!r}: use letters, digits, '_' and '-'")
    if spec.name in declarations(settings):
        raise TunelabError(f"{settings.project_dir / PROJECT_FILE}: data set {spec.name!r} is already declared")
    project_file = settings.project_dir / PROJECT_FILE
    with project_file.open("a") as handle:
        handle.write(spec.to_toml())
    return project_file
