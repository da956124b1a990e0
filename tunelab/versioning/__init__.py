"""Data versions: the data sets experiments read, and the hash that identifies them."""

from tunelab.versioning.datasets import DATASETS, Dataset, load_dataset

__all__ = ["DATASETS", "Dataset", "load_dataset"]
