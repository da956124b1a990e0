"""`tunelab tune`: run or continue a search."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunelab.cli._common import (
    StorageOption,
    console,
)
from tunelab.cli._output import (
    study_tables,
    tune_progress,
)
from tunelab.settings import load_settings
from tunelab.tuning.search import prepare_search, run_search
from tunelab.tuning.studies import load_study

app = typer.Typer()


@app.command()
def tune(
    spec: Annotated[Path, typer.Argument(help="Search spec: configs/search/<name>.json.")],
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes.")] = 1,
    storage: StorageOption = None,
    top: Annotated[int, typer.Option(min=1, help="How many best trials to list.")] = 5,
    oracle: Annotated[
        str, typer.Option(help="HOST[:PORT] where a Keras Tuner hypermodel search's chief listens (--workers > 1).")
    ] = "127.0.0.1",
) -> None:
    """Run or continue a search; every trial is a tracked run. Safe to re-run after a crash."""
    settings = load_settings()
    search = prepare_search(settings, spec, storage, workers, oracle)
    with tune_progress(search.spec.n_trials) as update:
        run_search(settings, search, on_progress=update)
    for table in study_tables(load_study(settings, search.spec.study_name, storage), top):
        console.print(table)
