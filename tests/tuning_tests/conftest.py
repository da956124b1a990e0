"""Search specs written for a test, and the real PostgreSQL server for distributed searches."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import optuna
import pytest
import sqlalchemy

POSTGRES_URL = os.environ.get("TUNELAB_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def write_spec(directory: Path, **fields) -> Path:
    """A search spec for the test project's ``curve`` experiment, ``fields`` overriding the defaults."""
    spec = {
        "experiment": "curve",
        "study_name": f"curve-{uuid.uuid4().hex[:8]}",
        "metric": "score",
        "direction": "maximize",
        "algorithm": "random",
        "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}, "steps": 3, "sleep_s": 0.0},
        "budget": {"n_trials": 4},
        "seed": 0,
        **fields,
    }
    path = directory / f"{spec['study_name']}.json"
    path.write_text(json.dumps(spec))
    return path


@pytest.fixture
def postgres_url() -> str:
    """The project's PostgreSQL (127.0.0.1:5432, database test); under CI its absence fails the test."""
    try:
        engine = sqlalchemy.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
    except Exception as exc:  # noqa: BLE001 - any reason PostgreSQL cannot be used
        reason = f"PostgreSQL at {POSTGRES_URL} is not usable: {str(exc).splitlines()[0]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: distributed tests must run)")
        pytest.skip(reason)
    return POSTGRES_URL


@pytest.fixture
def cleanup_studies(postgres_url):
    """Names appended here are deleted from PostgreSQL after the test."""
    names: list[str] = []
    yield names
    storage = optuna.storages.RDBStorage(postgres_url)
    for name in names:
        try:
            optuna.delete_study(study_name=name, storage=storage)
        except KeyError:
            pass
