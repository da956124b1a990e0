"""`tunelab tune`: run or continue a search."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunelab import db
from tunelab.cli._common import (
    StorageOption,
    console,
)
from tunelab.cli._output import (
    study_tables,
    tune_progress,
)
from tunelab.settings import load_settings
from tunelab.tracking import liveness
from tunelab.tuning.search import prepare_search, run_search
from tunelab.tuning.studies import load_study

app = typer.Typer()


@app.command()
def tune(
    spec: Annotated[Path, typer.Argument(help="Search spec: configs/search/<name>.json.")],
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes.")] = 1,
    storage: StorageOption = None,
    top: Annotated[int, typer.Option(min=1, help="How many best trials to list.")] = 5,
) -> None:
    """Run or continue a search; every trial is a tracked run. Safe to re-run after a crash."""
    settings = load_settings()
    search = prepare_search(settings, spec, storage, workers)
    liveness.sweep(db.connect(settings), settings.failed_saves_dir)  # runs left RUNNING by dead processes
    with tune_progress(search.spec.n_trials) as update:
        run_search(settings, search, on_progress=update)
    for table in study_tables(load_study(settings, search.spec.study_name, storage), top):
        console.print(table)
