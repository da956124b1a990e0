"""`tunelab db`: the embedded database server."""

from __future__ import annotations

import typer

from tunelab import db
from tunelab.cli._common import (
    console,
)
from tunelab.errors import TunelabError
from tunelab.settings import load_settings

app = typer.Typer(no_args_is_help=True, help="Manage the embedded MongoDB server (SecantusDB).")


def _embedded_or_fail():
    settings = load_settings()
    if settings.mongo_url:
        raise TunelabError(
            f"TUNELAB_MONGO_URL (or [database] url) points at {db.redact(settings.mongo_url)}: "
            "nothing embedded to manage"
        )
    return db.embedded_server(settings)


@app.command("start")
def db_start() -> None:
    """Start the embedded database (does nothing if it runs already)."""
    server = _embedded_or_fail()
    started = server.start()
    status = server.status()
    console.print(f"{'started' if started else 'already running'}: {status.url} (pid {status.pid})")


@app.command("stop")
def db_stop() -> None:
    """Stop the embedded database."""
    server = _embedded_or_fail()
    console.print("stopped" if server.stop() else "not running")


@app.command("status")
def db_status() -> None:
    """Say whether the database answers; exit 1 if it does not."""
    settings = load_settings()
    if settings.mongo_url:
        db.ping(settings.mongo_url)
        console.print(f"external MongoDB at {db.redact(settings.mongo_url)} answers")
        return
    status = db.embedded_server(settings).status()
    if not status.running:
        console.print(f"embedded database not running (would listen on {status.url})")
        raise typer.Exit(1)
    console.print(f"embedded database running: {status.url} (pid {status.pid}, data in {settings.state_dir / 'db'})")


@app.command("url")
def db_url() -> None:
    """Print the MongoDB URL tunelab uses."""
    settings = load_settings()
    console.print(db.configured_url(settings), highlight=False)
