"""Data sets: declared files (``[data.NAME]`` in tunelab.toml), tracked by DVC, versioned by their md5."""

from tunelab.data.datasets import GENERATORS, Dataset, add_dataset, load_dataset, write_raw
from tunelab.data.declarations import TASKS, DataSpec, declaration, declarations

__all__ = [
    "GENERATORS",
    "TASKS",
    "DataSpec",
    "Dataset",
    "add_dataset",
    "declaration",
    "declarations",
    "load_dataset",
    "write_raw",
]
