"""Benchmark: the DVC pipeline and `tunelab repro`, in a fresh clone of this repository.

    .venv/bin/python bench/pipeline.py [--repetitions 5] [--first-repetitions 3]

* ``dvc repro`` from scratch with small params (2 trials per study, 2 folds)
  against running the same eight stage commands in a row (DVC's own cost);
* a no-op ``dvc repro`` of the project pipeline against a no-op ``dvc repro``
  of a two-stage toy pipeline (the floor DVC sets; target ≤ 1 s);
* ``tunelab repro`` of a trivial run against ``tunelab run`` of it.

Everything records to a SecantusDB server of its own on a free port.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import free_port, print_table, repeat  # noqa: E402

from tunelab.db import EmbeddedServer  # noqa: E402
from tunelab.pipeline.stages import STAGES  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TOY_PIPELINE = """stages:
  a: {cmd: cp params.yaml a.txt, params: [p], outs: [a.txt]}
  b: {cmd: cp a.txt b.txt, deps: [a.txt], outs: [b.txt]}
"""


class Workspace:
    """A directory where commands run with this environment's ``tunelab`` and ``dvc`` and a given database."""

    def __init__(self, path: Path, mongo_url: str) -> None:
        self.path = path
        self.env = {
            **os.environ,
            "TUNELAB_MONGO_URL": mongo_url,
            "TUNELAB_PROJECT_DIR": str(path),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        }
        self.fresh_state()

    def fresh_state(self) -> None:
        """A new database and state directory, so that no study or run is reused."""
        self.env["TUNELAB_DB_NAME"] = f"bench_{uuid.uuid4().hex[:8]}"
        self.env["TUNELAB_STATE_DIR"] = tempfile.mkdtemp(prefix="state-", dir=self.path.parent)

    def from_scratch(self, *command: str) -> Callable[[], None]:
        """A timed call: the command on a fresh database and state directory."""

        def go() -> None:
            self.fresh_state()
            self(*command)

        return go

    def __call__(self, *command: str) -> str:
        done = subprocess.run(command, cwd=self.path, env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        return done.stdout


def clone_project(root: Path, mongo_url: str) -> Workspace:
    subprocess.run(["git", "clone", "-q", str(REPO), str(root / "project")], check=True)
    project = Workspace(root / "project", mongo_url)
    project("dvc", "pull", "-q", "data.dvc")
    params = yaml.safe_load((project.path / "params.yaml").read_text())
    params["tune"].update(n_trials=2, top=1)
    params["stack"].update(folds=2)
    (project.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return project


@contextlib.contextmanager
def cloned_project(prefix: str) -> Iterator[Workspace]:
    """A fresh clone with small params in a temporary folder, recording to a SecantusDB server of its own."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        root = Path(tmp)
        server = EmbeddedServer(root / "mongo", free_port())
        server.start()
        try:
            yield clone_project(root, server.url)
        finally:
            server.stop()


def toy_pipeline(root: Path, mongo_url: str) -> Workspace:
    toy = Workspace(root / "toy", mongo_url)
    toy.path.mkdir()
    toy("git", "init", "-q")
    toy("dvc", "init", "-q")
    (toy.path / "params.yaml").write_text("p: 1\n")
    (toy.path / "dvc.yaml").write_text(TOY_PIPELINE)
    toy("dvc", "repro", "-q")
    return toy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--first-repetitions", type=int, default=3, help="of the from-scratch runs (~30 s each)")
    args = parser.parse_args()
    with cloned_project("tunelab-bench-pipeline-") as project:
        toy = toy_pipeline(project.path.parent, project.env["TUNELAB_MONGO_URL"])
        dvc_first = repeat(project.from_scratch("dvc", "repro", "--force", "-q"), args.first_repetitions)
        stage_commands = "; ".join(
            [*(f"tunelab pipeline {stage}" for stage in STAGES), "tunelab dashboard --out dashboards/site"]
        )
        direct = repeat(project.from_scratch("bash", "-ec", stage_commands), args.first_repetitions)
        project("dvc", "repro", "-q")
        noop = repeat(lambda: project("dvc", "repro", "-q"), args.repetitions)
        toy_noop = repeat(lambda: toy("dvc", "repro", "-q"), args.repetitions)

        project("git", "-c", "user.name=bench", "-c", "user.email=bench@invalid", "commit", "-qam", "small params")
        project.fresh_state()
        project("tunelab", "run", "logistic_regression")
        run_id = "1"  # the first run of a fresh database
        reproduce = repeat(lambda: project("tunelab", "repro", run_id), args.repetitions)
        direct_run = repeat(lambda: project("tunelab", "run", "logistic_regression"), args.repetitions)
    print_table(
        "DVC pipeline and tunelab repro, fresh clone, small params",
        [
            ("dvc repro, from scratch (all 8 stages)", dvc_first, direct, "the 8 stage commands in a row"),
            ("dvc repro, nothing changed (project)", noop, toy_noop, "dvc repro, nothing changed (2-stage toy)"),
            ("tunelab repro (trivial run)", reproduce, direct_run, "tunelab run of the same experiment"),
        ],
        unit="s",
    )


if __name__ == "__main__":
    main()
