"""Where tunelab keeps its state and which MongoDB it talks to.

Precedence, highest first: environment variables, the project's
``tunelab.toml``, built-in defaults.

==========================  =========================  ===================
environment variable        ``tunelab.toml`` key       default
==========================  =========================  ===================
``TUNELAB_PROJECT_DIR``     (where the file is)        nearest ancestor of
                                                       the cwd holding a
                                                       ``tunelab.toml``,
                                                       else the cwd
``TUNELAB_STATE_DIR``       ``state_dir``              ``<project>/.tunelab``
``TUNELAB_MONGO_URL``       ``[database] url``         unset: embedded server
``TUNELAB_DB_NAME``         ``[database] name``        ``tunelab``
``TUNELAB_DB_PORT``         ``[database] port``        ``27117``
``TUNELAB_DATA_DIR``        ``data_dir``               ``<project>/data/raw``
``TUNELAB_QUEUE_EXPIRY_S``  ``[queue] expiry_s``       ``30``
``TUNELAB_QUEUE_RETRIES``   ``[queue] retries``        ``1``
==========================  =========================  ===================

A queued run's worker is lost once its run has sent no heartbeat for
``expiry_s``; the run is then queued again at most ``retries`` times.

Pipeline stages point ``TUNELAB_DATA_DIR`` at the processed training split.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tunelab.errors import TunelabError

PROJECT_FILE = "tunelab.toml"
DEFAULT_DB_NAME = "tunelab"
# Not 27017, so the embedded server never collides with (or impersonates) a real MongoDB.
DEFAULT_DB_PORT = 27117


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build one with :func:`load_settings`."""

    project_dir: Path
    state_dir: Path
    mongo_url: str | None
    db_name: str
    db_port: int
    data_dir: Path  # where experiments read their data sets (default: data/raw, tracked by data.dvc)
    queue_expiry_s: float = 30.0
    queue_retries: int = 1

    @property
    def experiments_dir(self) -> Path:
        return self.project_dir / "experiments"

    @property
    def offline_dir(self) -> Path:
        """Where ``--offline`` runs are written (a Sacred FileStorageObserver root)."""
        return self.state_dir / "offline"

    @property
    def worker_log(self) -> Path:
        """Where worker processes of batches and searches write their stderr."""
        return self.state_dir / "logs" / "workers.log"

    @property
    def failed_saves_dir(self) -> Path:
        """Where Sacred's MongoObserver dumps a run it could not save."""
        return self.state_dir / "failed-saves"


def find_project_dir(start: Path) -> Path:
    """The nearest ancestor of ``start`` (itself included) holding ``tunelab.toml``."""
    for directory in (start, *start.parents):
        if (directory / PROJECT_FILE).is_file():
            return directory
    return start


def _read_project_file(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise TunelabError(f"{path}: invalid TOML: {exc}") from None


def _port(value: object, source: str) -> int:
    try:
        port = int(str(value))
    except ValueError:
        raise TunelabError(f"{source}: port must be an integer, got {value!r}") from None
    if not 1 <= port <= 65535:
        raise TunelabError(f"{source}: port must be between 1 and 65535, got {port}")
    return port


def load_settings(cwd: Path | None = None) -> Settings:
    """Resolve settings from the environment and ``tunelab.toml``."""
    env = os.environ
    if env.get("TUNELAB_PROJECT_DIR"):
        project_dir = Path(env["TUNELAB_PROJECT_DIR"]).resolve()
    else:
        project_dir = find_project_dir((cwd or Path.cwd()).resolve())
    project_file = project_dir / PROJECT_FILE
    file_values = _read_project_file(project_file)
    database = file_values.get("database", {})

    state_dir = env.get("TUNELAB_STATE_DIR") or file_values.get("state_dir") or ".tunelab"
    data_dir = env.get("TUNELAB_DATA_DIR") or file_values.get("data_dir") or "data/raw"
    if "TUNELAB_DB_PORT" in env:
        port = _port(env["TUNELAB_DB_PORT"], "TUNELAB_DB_PORT")
    else:
        port = _port(database.get("port", DEFAULT_DB_PORT), f"{project_file}: [database] port")
    return Settings(
        project_dir=project_dir,
        state_dir=(project_dir / state_dir).resolve(),
        mongo_url=env.get("TUNELAB_MONGO_URL") or database.get("url") or None,
        db_name=env.get("TUNELAB_DB_NAME") or database.get("name") or DEFAULT_DB_NAME,
        db_port=port,
        data_dir=(project_dir / data_dir).resolve(),
        queue_expiry_s=_number(env, "TUNELAB_QUEUE_EXPIRY_S", file_values.get("queue", {}), "expiry_s", 30.0),
        queue_retries=int(_number(env, "TUNELAB_QUEUE_RETRIES", file_values.get("queue", {}), "retries", 1)),
    )


def _number(env: Mapping[str, str], variable: str, table: Mapping, key: str, default: float) -> float:
    """A non-negative number from the environment, else the ``[queue]`` table, else ``default``."""
    value = env.get(variable, table.get(key, default))
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if number < 0:
        raise TunelabError(f"{variable} (or [queue] {key}): expected a number >= 0, got {value!r}")
    return number


@contextmanager
def data_dir_override(data_dir: Path) -> Iterator[None]:
    """Within the block, :func:`load_settings` (here and in processes started here) reads data from ``data_dir``."""
    previous = os.environ.get("TUNELAB_DATA_DIR")
    os.environ["TUNELAB_DATA_DIR"] = str(data_dir)
    try:
        yield
    finally:
        if previous is None:
            del os.environ["TUNELAB_DATA_DIR"]
        else:
            os.environ["TUNELAB_DATA_DIR"] = previous
