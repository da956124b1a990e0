"""`tunelab stack`: mlens stacks of earlier runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunelab import db
from tunelab.cli._common import (
    console,
    err,
)
from tunelab.cli._output import (
    outcomes_table,
    verdict_table,
)
from tunelab.errors import TunelabError
from tunelab.settings import load_settings

app = typer.Typer()


@app.command()
def stack(
    spec: Annotated[Path, typer.Argument(help="Ensemble spec: configs/ensemble/<name>.json.")],
    select_meta: Annotated[
        bool, typer.Option("--select-meta", help="Evaluate the candidate meta learners first; fit the winner.")
    ] = False,
) -> None:
    """Stack the learners of earlier runs (top trials of studies, or run ids) with mlens, as a tracked run."""
    from tunelab.ensembling.runs import run_stack
    from tunelab.ensembling.spec import load_ensemble_spec

    settings = load_settings()
    ensemble = load_ensemble_spec(spec)
    if select_meta and len(ensemble.metas) < 2:
        raise TunelabError(f"{spec}: key 'meta': --select-meta needs a list of candidates")
    with err.status("fitting the stack…"):
        outcome = run_stack(settings, ensemble, str(spec), select_meta)
    if outcome.status != "COMPLETED":
        console.print(outcomes_table([outcome]))
        raise typer.Exit(1)
    record = db.connect(settings)["runs"].find_one({"_id": outcome.run_id}, {"info": 1})
    console.print(verdict_table(outcome.run_id, record["info"]))
