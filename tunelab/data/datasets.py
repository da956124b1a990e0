"""The data sets experiments read: files under ``data/raw/`` tracked by DVC, written from scikit-learn.

Each data set is one ``.npy`` file, features then the label in the last
column, written deterministically from what scikit-learn ships (never
downloaded). Its version is the md5 of the file's bytes, which is the md5 DVC
records for it, so a run's ``data_version`` names exactly what DVC tracks.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunelab.errors import TunelabError


@dataclass(frozen=True)
class Dataset:
    """Features ``X``, labels ``y`` and ``version``, the md5 of the file at ``path`` they were read from."""

    name: str
    X: np.ndarray
    y: np.ndarray
    version: str
    path: Path


def _sklearn(loader: str, **kwargs) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    """A scikit-learn loader, imported when called (scikit-learn takes a second to import)."""

    def load() -> tuple[np.ndarray, np.ndarray]:
        from sklearn import datasets

        return getattr(datasets, loader)(**kwargs)

    return load


GENERATORS: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {
    "breast_cancer": _sklearn("load_breast_cancer", return_X_y=True),
    "digits": _sklearn("load_digits", return_X_y=True),
    "moons": _sklearn("make_moons", n_samples=10_000, noise=0.4, random_state=0),
}


def raw_path(data_dir: Path, name: str) -> Path:
    return data_dir / f"{name}.npy"


def write_raw(data_dir: Path) -> list[Path]:
    """Write every data set's file; the same bytes on every machine and every call."""
    paths = []
    for name, generate in GENERATORS.items():
        paths.append(save_dataset(data_dir, name, *generate()))
    return paths


def save_dataset(data_dir: Path, name: str, X: np.ndarray, y: np.ndarray) -> Path:
    """Write one data set file (features, then the label column, as float64); returns its path."""
    table = np.column_stack([np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    data_dir.mkdir(parents=True, exist_ok=True)
    np.save(raw_path(data_dir, name), table, allow_pickle=False)
    return raw_path(data_dir, name)


def load_dataset(name: str, data_dir: Path) -> Dataset:
    """Read a data set from ``data_dir``; TunelabError for an unknown name or a missing file."""
    if name not in GENERATORS:
        raise TunelabError(f"unknown data set {name!r} (known: {', '.join(GENERATORS)})")
    path = raw_path(data_dir, name)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise TunelabError(f"{path}: data set missing; fetch the tracked data with `dvc pull`") from None
    table = np.load(io.BytesIO(raw), allow_pickle=False)
    return Dataset(name, table[:, :-1], table[:, -1].astype(np.int64), hashlib.md5(raw).hexdigest(), path)
