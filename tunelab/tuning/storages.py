"""Where Optuna studies live: a journal file under ``.tunelab/`` by default, or PostgreSQL.

Both are safe for many worker processes (SQLite is not, so it is refused).
PostgreSQL also shares a study between machines. Each storage brings a
*budget lock*, held while a worker counts a study's trials and claims the next
one, so that any number of workers finish exactly ``n_trials`` trials.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO

import optuna
import sqlalchemy

from tunelab import db
from tunelab.errors import TunelabError
from tunelab.settings import Settings

_POSTGRES_URL = re.compile(r"^postgres(ql)?(\+\w+)?://")


class StudyStorage(ABC):
    """An Optuna storage plus the lock that serializes claiming trials of one study."""

    def __init__(self, url: str, optuna_storage: optuna.storages.BaseStorage) -> None:
        self.url = url
        self.optuna = optuna_storage

    @abstractmethod
    def budget_lock(self, study_name: str) -> AbstractContextManager[None]:
        """Held by one worker process at a time, on any machine sharing this storage."""

    def __str__(self) -> str:
        return db.redact(self.url)


class JournalStorage(StudyStorage):
    """Optuna's journal file (about 5 ms a trial); one machine, many processes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = optuna.storages.journal.JournalFileBackend(str(path))
        super().__init__(str(path), optuna.storages.JournalStorage(backend))
        self._lock_path = path.with_name(path.name + ".budget-lock")
        self._lock_file: tuple[int, IO[bytes]] | None = None  # (pid, the lock file opened by that process)
        self._thread_lock = threading.Lock()

    @contextmanager
    def budget_lock(self, study_name: str) -> Iterator[None]:
        """An flock (released by the kernel if the holder dies) on a file kept open by this process.

        Opening the file for each claim (filelock.FileLock) cost 0.5 ms a trial. flock does not
        exclude threads sharing one open file, nor a forked child, which reopens it: hence the
        thread lock and the pid.
        """
        with self._thread_lock:
            if self._lock_file is None or self._lock_file[0] != os.getpid():
                self._lock_file = (os.getpid(), open(self._lock_path, "ab"))  # noqa: SIM115 - kept open
            fd = self._lock_file[1].fileno()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)


class PostgresStorage(StudyStorage):
    """Optuna's RDB storage on PostgreSQL; the budget lock is an advisory lock."""

    def __init__(self, url: str) -> None:
        engine_kwargs = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 5}}
        try:
            engine = sqlalchemy.create_engine(url, **engine_kwargs)
            try:  # Optuna creates its tables on first use; two commands doing so at once collide
                with _advisory_lock(engine, "tunelab:schema"):
                    storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
            finally:
                engine.dispose()
        except (sqlalchemy.exc.SQLAlchemyError, ImportError) as exc:
            first_line = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise TunelabError(f"--storage {db.redact(url)}: cannot use it: {first_line}") from None
        super().__init__(url, storage)

    def budget_lock(self, study_name: str) -> AbstractContextManager[None]:
        return _advisory_lock(self.optuna.engine, f"tunelab:study:{study_name}")


@contextmanager
def _advisory_lock(engine: sqlalchemy.Engine, name: str) -> Iterator[None]:
    """A PostgreSQL session lock on its own connection: the server drops it if the holder dies."""
    key = int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "big", signed=True)
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
        try:
            yield
        finally:
            connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": key})


def default_journal(settings: Settings) -> Path:
    return settings.state_dir / "optuna" / "journal.log"


def open_storage(settings: Settings, url: str | None = None) -> StudyStorage:
    """``url`` is a PostgreSQL URL, a journal file path, or None for ``.tunelab/optuna/journal.log``."""
    if url is None:
        return _journal(default_journal(settings))
    if _POSTGRES_URL.match(url):
        return PostgresStorage(url)
    if url.startswith("sqlite"):
        raise TunelabError(
            f"--storage {url}: SQLite locks up and loses trials with parallel workers; "
            "use the default journal file or postgresql://…"
        )
    if "://" in url:
        raise TunelabError(f"--storage {db.redact(url)}: expected postgresql://… or a journal file path")
    return _journal(Path(url))


_JOURNALS: dict[tuple[int, int, int], JournalStorage] = {}


def _journal(path: Path) -> JournalStorage:
    """This process's storage of the journal file at ``path``: Optuna replays a journal file when it opens it
    (every study in it, a few ms per hundred trials), and from then on reads only what was appended.

    Kept per process id (a forked worker opens its own) and file (a file made again at that path is another one).
    """
    try:
        stat = path.stat()
    except FileNotFoundError:
        return JournalStorage(path)
    key = (os.getpid(), stat.st_dev, stat.st_ino)
    if key not in _JOURNALS:
        _JOURNALS[key] = JournalStorage(path)
    return _JOURNALS[key]
