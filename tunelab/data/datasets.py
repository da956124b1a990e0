"""Data sets: declared files (``[data.NAME]`` in ``tunelab.toml``) tracked by DVC.

A data set is one CSV, Parquet or ``.npy`` file: a target column and feature
columns. Features must be numeric (or boolean): tunelab does not encode
categorical or text columns, since how to encode them is part of the model;
``--drop`` them, or encode them in the file. Text class labels become the
integers 0…k-1 in sorted order (``classes`` holds the labels), since stacking
(mlens) predicts numbers. A missing feature value stays
NaN; a missing target is an error. A data set's version is the md5 of the
file's bytes, which is the md5 DVC records for it.

Pipeline stages set ``TUNELAB_DATA_DIR`` to a split's directory: data sets
are then read from ``<dir>/<NAME><suffix>`` with the same declaration.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tunelab.data.declarations import TASKS, DataSpec, Task, declaration, declare
from tunelab.data.tables import check_suffix, read_table
from tunelab.data.versions import file_md5
from tunelab.errors import TunelabError
from tunelab.settings import Settings

DATA_DIR_ENV = "TUNELAB_DATA_DIR"


@dataclass(frozen=True)
class Dataset:
    """Features ``X`` (columns named ``columns``), target ``y``, and ``version``, the md5 of the file at ``path``."""

    name: str
    X: np.ndarray
    y: np.ndarray
    columns: tuple[str, ...]
    task: Task
    version: str
    path: Path
    classes: tuple[str, ...] | None = None  # the labels of text classes, in the order of their codes in y

    @property
    def frame(self) -> pd.DataFrame:
        """The features as a DataFrame with their column names."""
        return pd.DataFrame(self.X, columns=list(self.columns))


def data_path(settings: Settings, spec: DataSpec) -> Path:
    """Where data set ``spec`` is read from: its declared file, or its split under ``TUNELAB_DATA_DIR``."""
    if os.environ.get(DATA_DIR_ENV):
        return settings.data_dir / f"{spec.name}{Path(spec.path).suffix}"
    return settings.project_dir / spec.path


def load_dataset(name: str, settings: Settings) -> Dataset:
    """Read declared data set ``name``; TunelabError naming the file and column at fault."""
    spec = declaration(settings, name)
    path = data_path(settings, spec)
    # A file not hashed yet is hashed beside the parse (hashlib lets go of the GIL): the version costs no extra pass.
    with ThreadPoolExecutor(max_workers=1) as pool:
        version = pool.submit(file_md5, path, settings.state_dir / "data-md5.json")
        X, y, columns = split_columns(read_table(path), spec, path)
        classes = None
        if spec.task == "classification" and y.dtype.kind not in "iub":
            labels, y = np.unique(y.astype(str), return_inverse=True)
            classes = tuple(labels)
        return Dataset(name, X, y, columns, spec.task, version.result(), path, classes)


def split_columns(frame: pd.DataFrame, spec: DataSpec, path: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Features (float64), target and feature names of ``frame``, checked against ``spec``."""
    if frame.empty:
        raise TunelabError(f"{path}: no rows (the file holds no data, or only a header)")
    for column in (spec.target, *spec.drop):
        if column not in frame.columns:
            raise TunelabError(f"{path}: no column {column!r} (columns: {', '.join(map(str, frame.columns))})")
    target = frame[spec.target]
    missing = int(target.isna().sum())
    if missing:
        raise TunelabError(f"{path}: column {spec.target!r}: the target has {missing} missing values")
    y = target.to_numpy()
    if spec.task == "regression":
        if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
            raise TunelabError(f"{path}: column {spec.target!r}: regression needs a numeric target, got {target.dtype}")
        y = y.astype(np.float64)
    elif pd.api.types.is_float_dtype(target):
        if not np.array_equal(y, np.round(y)):
            raise TunelabError(
                f"{path}: column {spec.target!r}: classification needs class labels, got fractional numbers "
                "(use --task regression)"
            )
        y = y.astype(np.int64)
    features = frame.drop(columns=[spec.target, *spec.drop])
    for column in features.columns:
        if not (pd.api.types.is_numeric_dtype(features[column]) or pd.api.types.is_bool_dtype(features[column])):
            raise TunelabError(
                f"{path}: column {column!r}: a categorical or text feature ({features[column].dtype}); "
                "encode it as numbers or --drop it"
            )
    if features.shape[1] == 0:
        raise TunelabError(f"{path}: no feature columns left besides the target {spec.target!r}")
    return features.to_numpy(dtype=np.float64), y, tuple(map(str, features.columns))


MAX_INFERRED_CLASSES = 20  # a whole-numbered target with more distinct values is a quantity (a count, a price)


def infer_task(target: pd.Series) -> Task:
    """Classification for labels (text, booleans, up to MAX_INFERRED_CLASSES whole numbers), regression for
    other numbers: fractional ones, or whole ones with more distinct values."""
    values = target.dropna()
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return "classification"
    if values.nunique() > MAX_INFERRED_CLASSES or not np.array_equal(values, np.round(values)):
        return "regression"
    return "classification"


def add_dataset(
    settings: Settings, file: Path, name: str, target: str, task: str | None = None, drop: tuple[str, ...] = ()
) -> DataSpec:
    """Check ``file`` as data set ``name``, have DVC track it, and declare it in ``tunelab.toml``."""
    path = file if file.is_absolute() else (Path.cwd() / file)
    check_suffix(path)
    if not path.is_file():
        raise TunelabError(f"{file}: no such file")
    try:
        relative = path.resolve().relative_to(settings.project_dir)
    except ValueError:
        raise TunelabError(f"{file}: the file must lie inside the project ({settings.project_dir})") from None
    if task is not None and task not in TASKS:
        raise TunelabError(f"--task: one of {', '.join(TASKS)}, got {task!r}")
    frame = read_table(path)
    if task is None and target in frame.columns:
        task = infer_task(frame[target])
    spec = DataSpec(name, relative.as_posix(), target, task or "classification", tuple(drop))
    split_columns(frame, spec, path)
    _dvc_add(settings, relative)
    declare(settings, spec)
    return spec


def _dvc_add(settings: Settings, relative: Path) -> None:
    if not (settings.project_dir / ".dvc").is_dir():
        raise TunelabError(f"{settings.project_dir}: not a DVC project (run `dvc init` or `tunelab init`)")
    done = subprocess.run(
        [sys.executable, "-m", "dvc", "add", "-q", str(relative)],
        cwd=settings.project_dir,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        message = " ".join((done.stderr or done.stdout).split())
        raise TunelabError(f"{relative}: `dvc add` failed: {message}")


def _sklearn(loader: str, **kwargs) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    """A scikit-learn loader, imported when called (scikit-learn takes a second to import)."""

    def load() -> tuple[np.ndarray, np.ndarray]:
        from sklearn import datasets

        return getattr(datasets, loader)(**kwargs)

    return load


# The demo's data sets, written from what scikit-learn ships (never downloaded) by `tunelab data write`.
GENERATORS: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {
    "breast_cancer": _sklearn("load_breast_cancer", return_X_y=True),
    "digits": _sklearn("load_digits", return_X_y=True),
    "moons": _sklearn("make_moons", n_samples=10_000, noise=0.4, random_state=0),
}


def write_raw(data_dir: Path) -> list[Path]:
    """Write the demo's data set files (features, then the label column, float64 ``.npy``); the same bytes
    on every machine and every call."""
    paths = []
    for name, generate in GENERATORS.items():
        X, y = generate()
        table = np.column_stack([np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)])
        data_dir.mkdir(parents=True, exist_ok=True)
        np.save(data_dir / f"{name}.npy", table, allow_pickle=False)
        paths.append(data_dir / f"{name}.npy")
    from sklearn.datasets import load_diabetes

    paths.append(data_dir / "diabetes.csv")
    load_diabetes(as_frame=True).frame.to_csv(paths[-1], index=False)  # a regression data set, as a CSV
    return paths
