"""What a worker process pays before its first run: no second import of the parent's main script, and a run's
dependencies found without parsing every installed distribution."""

from __future__ import annotations

import importlib.metadata
import sys

from tunelab.settings import load_settings
from tunelab.tracking import batch
from tunelab.tracking.experiment import distributions_by_module


def _main_modules() -> tuple[str | None, bool]:
    return getattr(sys.modules.get("__mp_main__"), "__file__", None), "tunelab.tracking.batch" in sys.modules


def test_pool_workers_do_not_import_the_parents_main_script(tunelab_env):
    # multiprocessing would run this process's main script (pytest's) again in each worker, as __mp_main__
    with batch._pool(load_settings(), 1) as pool:
        assert pool.submit(_main_modules).result() == (None, True)


def test_distributions_by_module_agrees_with_the_standard_library():
    found = {module: [d.metadata["Name"] for d in dists] for module, dists in distributions_by_module().items()}
    assert found == importlib.metadata.packages_distributions()
