"""What the command modules share: the consoles and the option types used by more than one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tunelab import db
from tunelab.settings import Settings

console = Console()
err = Console(stderr=True)

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="JSON config file.")]
SetOption = Annotated[list[str], typer.Option("--set", "-s", help="Override KEY=VALUE (repeatable).")]
OfflineOption = Annotated[
    bool, typer.Option("--offline", help="Record to a local directory; upload later with `tunelab sync`.")
]
StorageOption = Annotated[
    str | None,
    typer.Option(
        "--storage",
        envvar="TUNELAB_STORAGE",  # keeps a PostgreSQL password off the command line (`ps`)
        help="Optuna storage: postgresql://… or a journal file (default: .tunelab/optuna/journal.log).",
    ),
]
QueryOption = Annotated[
    str | None,
    typer.Option("--query", "-q", help="Query terms: 'experiment=svm status=COMPLETED config.C>1 since=2026-11-01'."),
]
WhereOption = Annotated[list[str], typer.Option("--where", help="One more query term, e.g. 'config.C>1' (repeatable).")]


def source_description(settings: Settings) -> str:
    """Where runs are read from, for page footers: the redacted URL and the database name."""
    return f"{db.redact(db.mongo_url(settings))} database {settings.db_name}"
