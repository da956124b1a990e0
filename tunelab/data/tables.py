"""Reading and writing a data set file as a table: CSV (with a header), Parquet or ``.npy``.

A ``.npy`` file is a 2-D numeric array; its columns are named ``c0``, ``c1``, ….
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tunelab.errors import TunelabError

SUFFIXES = (".csv", ".parquet", ".npy")


def check_suffix(path: Path) -> None:
    if path.suffix not in SUFFIXES:
        raise TunelabError(f"{path}: unsupported file type {path.suffix or '(none)'!r} (use {', '.join(SUFFIXES)})")


def read_table(path: Path) -> pd.DataFrame:
    """The file as a DataFrame; TunelabError for a missing or unreadable file."""
    check_suffix(path)
    try:
        if path.suffix == ".csv":
            return pd.read_csv(path)
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise TunelabError(f"{path}: data set missing; fetch the tracked data with `dvc pull`") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise TunelabError(f"{path}: cannot read it: {' '.join(str(exc).split())}") from None
    if array.ndim != 2:
        raise TunelabError(f"{path}: a .npy data set must be a 2-D array, this one has {array.ndim} dimensions")
    return pd.DataFrame(array, columns=[f"c{i}" for i in range(array.shape[1])])


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` in the format ``path``'s suffix names (the same bytes for the same frame)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        np.save(path, frame.to_numpy(dtype=np.float64), allow_pickle=False)
    return path
