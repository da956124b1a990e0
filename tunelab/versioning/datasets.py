"""The data sets tunelab's experiments use: shipped with scikit-learn, never downloaded."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tunelab.errors import TunelabError


@dataclass(frozen=True)
class Dataset:
    """Features ``X``, labels ``y`` and ``version``, the md5 of both arrays' bytes."""

    name: str
    X: np.ndarray
    y: np.ndarray
    version: str


def _sklearn(loader: str, **kwargs) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    """A scikit-learn loader, imported when called (scikit-learn takes a second to import)."""

    def load() -> tuple[np.ndarray, np.ndarray]:
        from sklearn import datasets

        return getattr(datasets, loader)(**kwargs)

    return load


DATASETS: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {
    "breast_cancer": _sklearn("load_breast_cancer", return_X_y=True),
    "digits": _sklearn("load_digits", return_X_y=True),
    "moons": _sklearn("make_moons", n_samples=10_000, noise=0.4, random_state=0),
}


def content_version(X: np.ndarray, y: np.ndarray) -> str:
    digest = hashlib.md5()
    for array in (X, y):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def load_dataset(name: str) -> Dataset:
    """Load a data set by name; raises TunelabError for an unknown name."""
    if name not in DATASETS:
        raise TunelabError(f"unknown data set {name!r} (known: {', '.join(DATASETS)})")
    X, y = DATASETS[name]()
    return Dataset(name=name, X=X, y=y, version=content_version(X, y))
