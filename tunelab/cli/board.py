"""`tunelab board`: Omniboard over the run database."""

from __future__ import annotations

from typing import Annotated

import typer

from tunelab import db
from tunelab.cli._common import (
    console,
    err,
)
from tunelab.settings import load_settings

app = typer.Typer()


@app.command()
def board(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the web page.")] = 9000,
    host: Annotated[str, typer.Option(help="Listen address; anything but loopback exposes the board.")] = "127.0.0.1",
    auth: Annotated[
        str | None,
        typer.Option(envvar="TUNELAB_BOARD_AUTH", help="USER:PASSWORD for HTTP basic auth (or the env var)."),
    ] = None,
    databases: Annotated[
        list[str], typer.Option("--db", help="Database to show (repeatable; default: tunelab's).")
    ] = [],
    stop: Annotated[bool, typer.Option("--stop", help="Stop the running board.")] = False,
) -> None:
    """Start Omniboard over tunelab's database (installing it with npm on first use) and print its URL."""
    from tunelab.board.columns import register_columns
    from tunelab.board.install import OMNIBOARD_VERSION, ensure_omniboard, entry_point
    from tunelab.board.server import Board, is_loopback, parse_auth

    settings = load_settings()
    omniboard = Board(settings.state_dir)
    if stop:
        console.print("stopped" if omniboard.stop() else "not running")
        return
    credentials = parse_auth(auth) if auth is not None else None
    running = omniboard.status()
    if running is not None:
        console.print(f"Omniboard already runs: {running.url} (pid {running.pid})", highlight=False)
        return
    if not is_loopback(host) and credentials is None:
        err.print(
            f"warning: Omniboard will listen on {host}:{port} without --auth: "
            "anyone who reaches it can read and delete runs"
        )
    if not entry_point().is_file():
        with err.status(f"installing Omniboard {OMNIBOARD_VERSION} with npm (once, about a minute)…"):
            ensure_omniboard()
    mongo = db.connect(settings).client  # starts the embedded database if needed
    url = db.configured_url(settings)
    names = databases or [settings.db_name]
    for name in names:
        register_columns(mongo[name], mongo[name]["metrics"].distinct("name"))
    status = omniboard.start(entry_point(), url, names, host, port, credentials)
    console.print(f"Omniboard: {status.url}  (pid {status.pid}; `tunelab board --stop` stops it)", highlight=False)
