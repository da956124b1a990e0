"""Creating a project: the scaffold, a git repository, DVC (analytics off) and a declared example data set.

The scaffold (``tunelab/project/scaffold``) holds ``tunelab.toml``,
``experiments/`` (one example), ``configs/`` (with ``search/`` and
``ensemble/``), ``dvc.yaml``, ``params.yaml``, ``dags/`` (the Airflow DAG) and ``.gitignore``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from tunelab.data import add_dataset
from tunelab.errors import TunelabError
from tunelab.settings import load_settings

EXAMPLE_DATA = Path("data/raw/diabetes.csv")


def init_project(directory: Path) -> Path:
    """Create a working project in ``directory`` (absent or empty); TunelabError if it holds anything."""
    directory = directory.resolve()
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise TunelabError(f"{directory}: not an empty directory; tunelab init needs a new or empty one")
    with resources.as_file(resources.files("tunelab.project") / "scaffold") as scaffold:
        shutil.copytree(scaffold, directory, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    if _run(directory, "git", "rev-parse", "--git-dir", check=False).returncode != 0:
        _run(directory, "git", "init", "-q")
    subdir = [] if (directory / ".git").exists() else ["--subdir"]
    _run(directory, sys.executable, "-m", "dvc", "init", "-q", *subdir)
    _run(directory, sys.executable, "-m", "dvc", "config", "core.analytics", "false")
    _write_example(directory / EXAMPLE_DATA)
    add_dataset(load_settings(directory), directory / EXAMPLE_DATA, "diabetes", "target", "regression")
    return directory


def _write_example(path: Path) -> None:
    """scikit-learn's diabetes data (442 rows, 10 features, a numeric target) as a CSV."""
    from sklearn.datasets import load_diabetes

    path.parent.mkdir(parents=True, exist_ok=True)
    load_diabetes(as_frame=True).frame.to_csv(path, index=False)


def _run(directory: Path, *command: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=directory, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise TunelabError(f"{directory}: `{' '.join(command[-3:])}` failed: {' '.join(done.stderr.split())}")
    return done
