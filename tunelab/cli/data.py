"""`tunelab data`: declared, DVC-tracked data sets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunelab.cli._common import console
from tunelab.settings import load_settings

app = typer.Typer(no_args_is_help=True, help="Data sets: files declared in tunelab.toml and tracked by DVC.")


@app.command("add")
def data_add(
    file: Annotated[Path, typer.Argument(help="A CSV (with a header), Parquet or .npy file inside the project.")],
    name: Annotated[str, typer.Option("--name", help="The name experiments load it by: ex.load_data(NAME).")],
    target: Annotated[str, typer.Option("--target", help="The column to predict (c0, c1, … for .npy).")],
    task: Annotated[
        str | None, typer.Option("--task", help="classification or regression (default: from the target's values).")
    ] = None,
    drop: Annotated[
        list[str] | None, typer.Option("--drop", help="A column that is not a feature (repeatable).")
    ] = None,
) -> None:
    r"""Check FILE, track it with DVC (`dvc add`) and declare it as \[data.NAME] in tunelab.toml."""
    from tunelab.data import add_dataset

    spec = add_dataset(load_settings(), file, name, target, task, tuple(drop or ()))
    console.print(
        f"data set {spec.name!r}: {spec.path}, target {spec.target!r}, {spec.task}; tracked by DVC "
        f"(commit {spec.path}.dvc, .gitignore and tunelab.toml)",
        highlight=False,
    )


@app.command("write")
def data_write() -> None:
    """Write the demo's data set files from scikit-learn (the same bytes every time); then `dvc add data`."""
    from tunelab.data import write_raw

    for path in write_raw(load_settings().data_dir):
        console.print(f"wrote {path}", highlight=False)
