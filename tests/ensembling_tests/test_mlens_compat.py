"""The mlens compatibility module: each patch, and that it leaves what exists alone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from tunelab.ensembling import mlens_compat


def run_fresh(script: str) -> None:
    """Run ``script`` in a fresh interpreter (no patch applied yet); it must print ``ok``."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True)
    assert result.stdout.strip().endswith("ok"), result.stderr


def test_each_patch(tmp_path):
    run_fresh(f"""
        import collections, collections.abc
        import numpy as np
        assert not hasattr(collections, "Sequence") and not hasattr(np, "int") and not hasattr(np, "byte_bounds")
        from tunelab.ensembling import mlens_compat
        mlens_compat.apply()
        assert collections.Sequence is collections.abc.Sequence
        assert np.int is int
        array = np.arange(12, dtype=np.float64).reshape(3, 4)
        assert np.byte_bounds(array) == np.lib.array_utils.byte_bounds(array)

        from mlens.externals.joblib import numpy_pickle
        from mlens.externals.sklearn.base import BaseEstimator

        assert BaseEstimator().__sklearn_tags__().estimator_type is None
        path = {str(tmp_path / "array.pkl")!r}
        numpy_pickle.dump(array, path)  # writes through NumpyArrayWrapper.write_array
        assert (numpy_pickle.load(path) == array).all()
        print("ok")
    """)


def test_apply_twice_is_harmless():
    mlens_compat.apply()
    mlens_compat.apply()
    assert np.int is int


def test_existing_names_are_not_replaced():
    run_fresh("""
        import collections, numpy as np
        class Mine: pass
        collections.Hashable = Mine
        np.int = "mine"
        np.byte_bounds = len
        from tunelab.ensembling import mlens_compat
        mlens_compat.apply()
        assert collections.Hashable is Mine and np.int == "mine" and np.byte_bounds is len
        assert collections.OrderedDict.__module__ == "collections"
        print("ok")
    """)


def test_cross_val_score_on_an_ensemble():
    mlens_compat.apply()
    from mlens.ensemble import SuperLearner
    from sklearn.datasets import make_moons
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    X, y = make_moons(n_samples=400, noise=0.4, random_state=0)
    ensemble = SuperLearner(random_state=0).add([LogisticRegression()]).add_meta(LogisticRegression())
    scores = cross_val_score(ensemble, X, y, cv=2, scoring="accuracy")
    assert len(scores) == 2 and scores.min() > 0.7


def test_importing_mlens_leaves_another_process_live_cache_alone():
    """mlens's import removes every cache in its directory: each process has its own."""
    mlens_compat.apply()
    live = Path(os.environ["MLENS_TMPDIR"]) / ".mlens_tmp_cache_live"
    live.mkdir(exist_ok=True)
    try:
        run_fresh("""
            import os
            from tunelab.ensembling import mlens_compat
            mlens_compat.apply()
            import mlens
            assert os.environ["MLENS_TMPDIR"].endswith(str(os.getpid()))
            print("ok")
        """)
        assert live.is_dir()
    finally:
        live.rmdir()
