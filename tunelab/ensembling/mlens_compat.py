"""Make mlens 0.2.3 (2018) work on Python 3.11, NumPy 2 and scikit-learn 1.9.

Import this module before ``mlens``; :func:`apply` is idempotent and only adds
what is missing, so nothing that exists is changed. Each patch names the
failure it fixes (measured on this project's pins):

* ``from collections import Sequence`` fails at import (moved to ``collections.abc``).
* Every fit fails on ``np.int`` (removed in NumPy 1.24).
* The multiprocessing backend calls ``np.byte_bounds`` (moved to
  ``np.lib.array_utils`` in NumPy 2) and ``ndarray.tostring`` (removed in
  NumPy 2; ndarray cannot be patched, so joblib's one caller is).
* scikit-learn 1.6+ asks estimators for ``__sklearn_tags__`` (``cross_val_score``
  on an mlens ensemble fails without it): mlens's vendored ``BaseEstimator`` gets
  scikit-learn's.

Its import also walks the whole temporary directory and removes every cache
it finds, printing what it removes to stderr: the live caches of another process
fitting at that moment included. Each process gets a directory of its own
(``MLENS_TMPDIR``, unless set), those of processes that are gone are removed, and
that report is kept off a command's output.
"""

from __future__ import annotations

import collections
import collections.abc
import contextlib
import io
import os
import pickle
import shutil
import tempfile
from pathlib import Path

import numpy as np
import psutil

_COLLECTIONS_ABCS = ("Sequence", "Mapping", "MutableMapping", "Iterable", "Callable", "Hashable", "Sized")
_applied = False


def apply() -> None:
    """Install every patch that is missing; safe to call more than once."""
    global _applied
    if _applied:
        return
    os.environ.setdefault("MLENS_VERBOSE", "N")  # its import prints a banner to stderr otherwise
    for name in _COLLECTIONS_ABCS:
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))
    if "int" not in np.__dict__:
        np.int = int  # mlens uses it as a dtype: Python's int is what it meant
    if not hasattr(np, "byte_bounds"):
        np.byte_bounds = np.lib.array_utils.byte_bounds
    root = Path(tempfile.gettempdir()) / "tunelab-mlens"
    inherited = os.environ.get("MLENS_TMPDIR")
    if inherited is None or Path(inherited).parent == root:  # a user's own setting is kept; a parent's is not
        os.environ["MLENS_TMPDIR"] = str(_process_cache_dir(root))
    with contextlib.redirect_stderr(io.StringIO()):
        import mlens.config  # noqa: F401  (reports and removes residual caches at import)
    _patch_joblib_write_array()
    _patch_sklearn_tags()
    _applied = True


def _process_cache_dir(root: Path) -> Path:
    """``root/<pid>``, created; the directories under ``root`` of processes that are gone are removed."""
    for entry in root.glob("[0-9]*"):
        if not psutil.pid_exists(int(entry.name)):
            shutil.rmtree(entry, ignore_errors=True)
    own = root / str(os.getpid())
    own.mkdir(parents=True, exist_ok=True)
    return own


def _patch_joblib_write_array() -> None:
    from mlens.externals.joblib import numpy_pickle

    def write_array(self, array, pickler):
        """mlens's vendored joblib, with ``tobytes`` for NumPy 2's removed ``tostring``."""
        buffersize = max(16 * 1024**2 // array.itemsize, 1)
        if array.dtype.hasobject:
            pickle.dump(array, pickler.file_handle, protocol=2)
            return
        flags = ["external_loop", "buffered", "zerosize_ok"]
        for chunk in pickler.np.nditer(array, flags=flags, buffersize=buffersize, order=self.order):
            pickler.file_handle.write(chunk.tobytes("C"))

    numpy_pickle.NumpyArrayWrapper.write_array = write_array


def _patch_sklearn_tags() -> None:
    import sklearn.base
    from mlens.externals.sklearn.base import BaseEstimator

    if "__sklearn_tags__" not in vars(BaseEstimator):
        # scikit-learn's own (it calls no super()): no estimator type, like an unknown estimator
        BaseEstimator.__sklearn_tags__ = sklearn.base.BaseEstimator.__sklearn_tags__
