"""Data versions: the data sets experiments read, and the hash that identifies them."""

from tunelab.versioning.datasets import GENERATORS, Dataset, load_dataset, save_dataset, write_raw

__all__ = ["GENERATORS", "Dataset", "load_dataset", "save_dataset", "write_raw"]
