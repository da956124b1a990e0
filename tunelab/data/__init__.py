"""Data sets: the files experiments read, and the md5 (as DVC records it) that versions them."""

from tunelab.data.datasets import GENERATORS, Dataset, load_dataset, save_dataset, write_raw

__all__ = ["GENERATORS", "Dataset", "load_dataset", "save_dataset", "write_raw"]
