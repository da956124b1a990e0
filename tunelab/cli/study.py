"""`tunelab study`: studies, their trials and exports."""

from __future__ import annotations

from typing import Annotated

import typer

from tunelab.cli._common import (
    StorageOption,
    console,
)
from tunelab.cli._output import (
    studies_table,
    study_tables,
)
from tunelab.errors import TunelabError
from tunelab.settings import load_settings

app = typer.Typer(no_args_is_help=True, help="Studies: list them, show one, export its trials.")


@app.command("list")
def study_list(storage: StorageOption = None) -> None:
    """Every study: Optuna's in the storage, Keras Tuner's under .tunelab/keras-tuner."""
    from tunelab.tuning.studies import list_studies

    console.print(studies_table(list_studies(load_settings(), storage)))


@app.command("show")
def study_show(
    name: Annotated[str, typer.Argument(help="Study name.")],
    storage: StorageOption = None,
    top: Annotated[int, typer.Option(min=1, help="How many best trials to list.")] = 10,
    export_format: Annotated[
        str | None, typer.Option("--export", help="Print every trial as csv or json instead.")
    ] = None,
) -> None:
    """A study's counts by state and its best trials with their run ids (or --export csv|json)."""
    from tunelab.tuning.studies import export, load_study

    report = load_study(load_settings(), name, storage)
    if export_format is not None:
        if export_format not in ("csv", "json"):
            raise TunelabError(f"--export {export_format}: expected csv or json")
        print(export(report, export_format), end="")
        return
    for table in study_tables(report, top):
        console.print(table)
