"""A throwaway copy of the project as its own git repository, with the real `git` and `dvc` commands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, TunelabEnv

GIT_IDENTITY = ["-c", "user.name=tunelab tests", "-c", "user.email=tests@tunelab.invalid"]


@dataclass
class ProjectClone:
    """The project's working tree (tracked and new files) committed in a fresh repository at ``path``."""

    path: Path
    tunelab: TunelabEnv

    def run(self, *command: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """A command in the clone; ``tunelab`` and ``dvc`` are this environment's."""
        env = {
            **self.tunelab.env,
            "TUNELAB_PROJECT_DIR": str(self.path),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        return subprocess.run(command, cwd=self.path, env=env, capture_output=True, text=True, timeout=timeout)

    def ok(self, *command: str, timeout: float = 300) -> str:
        done = self.run(*command, timeout=timeout)
        assert done.returncode == 0, f"{command}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    def commit(self, message: str) -> str:
        self.ok("git", *GIT_IDENTITY, "commit", "-qam", message)
        return self.ok("git", "rev-parse", "HEAD").strip()

    def set_params(self, **sections: dict) -> None:
        """Update sections of params.yaml (``tune={"n_trials": 2}``)."""
        path = self.path / "params.yaml"
        params = yaml.safe_load(path.read_text())
        for section, values in sections.items():
            params[section].update(values)
        path.write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture
def project_clone(tunelab_env, tmp_path) -> ProjectClone:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    clone = tmp_path / "clone"
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)
    project = ProjectClone(clone, tunelab_env)
    project.ok("git", "init", "-q")
    project.ok("git", "add", "-A")
    project.commit("the project")
    project.ok("dvc", "pull", "-q", "data.dvc")
    return project
