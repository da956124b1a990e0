"""`tunelab init`: a new project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunelab.cli._common import console

app = typer.Typer()


@app.command()
def init(directory: Annotated[Path, typer.Argument(help="A new or empty directory.")]) -> None:
    """Create a project: tunelab.toml, an example experiment, configs, a DVC-tracked data set, dvc.yaml, params.yaml."""
    from tunelab.project import init_project

    path = init_project(directory)
    console.print(
        f"created {path}: cd there, `tunelab run forest`, `tunelab tune configs/search/forest.json`, "
        "`tunelab dashboard`, `dvc repro`",
        highlight=False,
    )
