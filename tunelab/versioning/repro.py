"""Re-creating a run from its record: same config and seed, same code (git commit), same data (DVC md5).

:func:`check_workspace` says what in the working tree differs from the run's
origin; :func:`reproduce` runs it again as a new run with ``info.reproduces``;
:func:`reproduce_in_worktree` first builds a temporary git worktree at the
run's commit holding the run's data, fetched from the DVC cache or a local
remote by its md5.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from tunelab import db
from tunelab.errors import TunelabError
from tunelab.settings import Settings, data_dir_override
from tunelab.tracking.artifacts import completed_run
from tunelab.tracking.runner import RunOutcome, execute, prepare_run
from tunelab.tuning.objectives import OBJECTIVE_REF, load_objective
from tunelab.tuning.tracked_trials import ENGINE, track_trial


@dataclass(frozen=True)
class RunOrigin:
    """What a run was made from, as its record in the database says."""

    run_id: int
    experiment: str
    config: dict[str, Any]
    git_commit: str | None  # 12 hex digits
    dirty: bool  # the run's tree had uncommitted changes
    data_path: str | None  # relative to the project
    data_version: str | None  # the file's md5, as DVC records it
    result: Any
    summary: dict[str, dict[str, float]]
    objective: str | None = None  # a trial of ``FILE.py:FUNCTION`` (``tunelab tune FILE.py:FUNCTION``)
    directions: tuple[str, ...] = ()  # that objective's study's


def load_origin(settings: Settings, run_id: int) -> RunOrigin:
    """The run's origin; TunelabError if the run does not exist or never finished."""
    fields = {"experiment.name": 1, "config": 1, "result": 1, "info": 1}
    run = completed_run(db.connect(settings), run_id, fields, "reproduced")
    info = run.get("info", {})
    commit = info.get("git_commit") or ""
    # the database is untrusted input: its commit reaches `git`, its data path the worktree
    if commit and not re.fullmatch(r"[0-9a-f]{7,40}(-dirty)?", commit):
        raise TunelabError(f"run {run_id}: info.git_commit {commit!r} is not a git commit")
    data_path = info.get("data_path")
    if data_path is not None and (
        not isinstance(data_path, str) or Path(data_path).is_absolute() or ".." in Path(data_path).parts
    ):
        raise TunelabError(f"run {run_id}: info.data_path {data_path!r} is not a path inside the project")
    objective, directions = _objective_of(run_id, run)
    return RunOrigin(
        run_id=run_id,
        experiment=run["experiment"]["name"],
        config=run["config"],
        git_commit=commit.removesuffix("-dirty") or None,
        dirty=commit.endswith("-dirty"),
        data_path=data_path,
        data_version=info.get("data_version"),
        result=run.get("result"),
        summary=info.get("summary", {}),
        objective=objective,
        directions=directions,
    )


def _objective_of(run_id: int, run: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """A trial run's ``FILE.py:FUNCTION`` and its study's directions (checked: the database is untrusted input,
    and the file is imported); (None, ()) for an experiment's run."""
    info = run.get("info", {})
    if info.get("engine") != "objective":
        return None, ()
    ref = info.get("objective_function")
    if not isinstance(ref, str) or OBJECTIVE_REF.match(ref) is None:
        raise TunelabError(
            f"run {run_id} is a trial of {ref!r}, tracked in your own code (@tunelab.optuna.track): "
            "re-run it from there"
        )
    objective = info.get("objective")
    directions = objective.get("directions") if isinstance(objective, dict) else None
    if not isinstance(run.get("config"), dict) or not (
        isinstance(directions, list) and directions and set(directions) <= {"maximize", "minimize"}
    ):
        raise TunelabError(f"run {run_id}: its config or info.objective.directions is not a trial's")
    return ref, tuple(directions)


def check_workspace(settings: Settings, origin: RunOrigin) -> list[str]:
    """Every way the working tree differs from the run's origin, each with the command that fixes it."""
    problems = []
    head = _git(settings.project_dir, "rev-parse", "HEAD")
    if origin.git_commit and not head.startswith(origin.git_commit):
        problems.append(
            f"code: run {origin.run_id} was made at commit {origin.git_commit}, the working tree is at "
            f"{head[:12]} (`git checkout {origin.git_commit}`)"
        )
    changed = _git(settings.project_dir, "status", "--porcelain", "--untracked-files=no").splitlines()
    if changed:
        files = ", ".join(line[3:] for line in changed[:5]) + (" …" if len(changed) > 5 else "")
        problems.append(f"the working tree has uncommitted changes ({files}): commit or stash them")
    if origin.data_path and origin.data_version:
        current = _md5(settings.project_dir / origin.data_path)
        if current != origin.data_version:
            problems.append(
                f"data: run {origin.run_id} read {origin.data_path} version {origin.data_version[:12]}, the working "
                f"tree has {current[:12] if current else 'no such file'} "
                f"(`git checkout {origin.git_commit or 'COMMIT'} && dvc checkout`)"
            )
    return problems


def locate_data(settings: Settings, md5: str) -> Path | None:
    """The DVC object holding version ``md5`` in the project's cache or a local-directory remote, if any."""
    for root in _object_stores(settings.project_dir):
        candidate = root / "files" / "md5" / md5[:2] / md5[2:]
        if candidate.is_file():
            return candidate
    return None


def reproduce(settings: Settings, origin: RunOrigin) -> RunOutcome:
    """Run the experiment again with the run's config (seed included), reading the data from where it did;
    a trial of an objective runs its function again with the trial's parameters (outside any study)."""
    data_dir = settings.project_dir / Path(origin.data_path).parent if origin.data_path else settings.data_dir
    with data_dir_override(data_dir):
        if origin.objective is not None:
            return _reproduce_trial(settings, origin)
        request = prepare_run(
            settings,
            origin.experiment,
            updates={f"run {origin.run_id}": origin.config},
            info={"reproduces": origin.run_id},
        )
        return execute(settings, request)


def _reproduce_trial(settings: Settings, origin: RunOrigin) -> RunOutcome:
    """The objective called again on a trial of a study in memory whose parameters are the run's."""
    path = (settings.project_dir / OBJECTIVE_REF.match(origin.objective)["file"]).resolve()
    if not path.is_relative_to(settings.project_dir.resolve()) or not _git(settings.project_dir, "ls-files", str(path)):
        raise TunelabError(
            f"run {origin.run_id}: its objective {path} is not a file of the project's git repository: "
            "re-run it from where it is"
        )
    objective = load_objective(origin.objective, settings.project_dir)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=list(origin.directions), pruner=optuna.pruners.NopPruner())
    study.enqueue_trial(origin.config)
    info = {"engine": ENGINE, "objective_function": origin.objective, "reproduces": origin.run_id}
    outcome = track_trial(settings, origin.experiment, objective, study.ask(), info)
    result = None if outcome.values is None else outcome.values[0] if len(outcome.values) == 1 else outcome.values
    error = None if outcome.error is None else f"{type(outcome.error).__name__}: {outcome.error}"
    return RunOutcome(origin.experiment, None, outcome.run_id, outcome.status, result=result, error=error)


def reproduce_in_worktree(settings: Settings, origin: RunOrigin, argv: list[str]) -> int:
    """Check out the run's commit in a temporary git worktree, put the run's data in place, and run
    ``tunelab`` with ``argv`` there (against the same database); returns its exit status."""
    if not origin.git_commit:
        raise TunelabError(f"run {origin.run_id} recorded no git commit: there is nothing to check out")
    data = None
    if origin.data_path and origin.data_version:
        data = locate_data(settings, origin.data_version)
        if data is None:
            raise missing_data_error(settings, origin)
    worktree = Path(tempfile.mkdtemp(prefix=f"tunelab-repro-{origin.run_id}-"))
    try:
        _git(settings.project_dir, "worktree", "add", "--detach", str(worktree), origin.git_commit)
        if data is not None:
            target = worktree / origin.data_path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(data, target)
        env = {
            **os.environ,
            "TUNELAB_PROJECT_DIR": str(worktree),
            "TUNELAB_STATE_DIR": str(settings.state_dir),
            "TUNELAB_MONGO_URL": db.mongo_url(settings),
        }
        # -P: the worktree (the cwd) must not shadow the installed tunelab with the commit's own copy
        return subprocess.run([sys.executable, "-P", "-m", "tunelab", *argv], cwd=worktree, env=env).returncode
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(worktree)], cwd=settings.project_dir, capture_output=True
        )
        shutil.rmtree(worktree, ignore_errors=True)


def missing_data_error(settings: Settings, origin: RunOrigin) -> TunelabError:
    stores = ", ".join(os.path.relpath(p, settings.project_dir) for p in _object_stores(settings.project_dir))
    return TunelabError(
        f"run {origin.run_id} read {origin.data_path} version {origin.data_version}, which is in neither the DVC "
        f"cache nor a remote ({stores or 'none configured'}): it cannot be reproduced"
    )


def _object_stores(project_dir: Path) -> list[Path]:
    """The DVC cache and every remote that is a local directory, as absolute paths."""
    from dvc.config import Config

    config = Config(dvc_dir=str(project_dir / ".dvc"))
    stores = [Path(config["cache"].get("dir") or project_dir / ".dvc" / "cache")]
    for remote in config["remote"].values():
        url = remote.get("url", "")
        if "://" not in url:
            stores.append((project_dir / ".dvc" / url).resolve())
    return stores


def _md5(path: Path) -> str | None:
    try:
        return hashlib.md5(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _git(project_dir: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=project_dir, capture_output=True, text=True)
    if done.returncode != 0:
        raise TunelabError(f"git {' '.join(args)} in {project_dir}: {done.stderr.strip() or 'failed'}")
    return done.stdout.rstrip("\n")
