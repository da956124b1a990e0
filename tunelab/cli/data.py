"""`tunelab data`: the DVC-tracked data sets."""

from __future__ import annotations

import typer

from tunelab.cli._common import (
    console,
)
from tunelab.data import write_raw
from tunelab.settings import load_settings

app = typer.Typer(no_args_is_help=True, help="The DVC-tracked data sets under data/raw.")


@app.command("write")
def data_write() -> None:
    """Write the data set files from scikit-learn (the same bytes every time); then `dvc add data`."""
    for path in write_raw(load_settings().data_dir):
        console.print(f"wrote {path}", highlight=False)
