"""`tunelab pipeline` and `tunelab repro`: DVC pipeline stages and re-created runs."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tunelab import db
from tunelab.cli._common import (
    console,
    err,
)
from tunelab.cli._output import (
    outcomes_table,
    repro_table,
)
from tunelab.errors import TunelabError
from tunelab.pipeline import STAGE_NAMES
from tunelab.settings import load_settings

app = typer.Typer()


@app.command()
def pipeline(
    stage: Annotated[str, typer.Argument(help=f"One of: {', '.join(STAGE_NAMES)}.")],
) -> None:
    """Run one stage of the DVC pipeline with params.yaml (dvc.yaml calls this; run them all with `dvc repro`)."""
    settings = load_settings()
    if stage not in STAGE_NAMES:
        raise TunelabError(f"unknown pipeline stage {stage!r} (stages: {', '.join(STAGE_NAMES)})")
    from tunelab.pipeline.stages import STAGES, load_params

    params = load_params(settings.project_dir)
    if stage not in ("prepare", "evaluate", "transform"):
        db.mongo_url(settings)  # starts the embedded database if needed
    result = STAGES[stage](settings, params)
    console.print_json(json.dumps(result, default=str))


@app.command()
def repro(
    run_id: Annotated[int, typer.Argument(help="The run to re-create.")],
    checkout: Annotated[
        bool,
        typer.Option("--checkout", help="Reproduce in a temporary git worktree at the run's commit, with its data."),
    ] = False,
) -> None:
    """Re-run a run with its config, seed, code and data as a new run linked to it (info.reproduces)."""
    from tunelab.versioning.repro import (
        check_workspace,
        load_origin,
        locate_data,
        missing_data_error,
        reproduce,
        reproduce_in_worktree,
    )

    settings = load_settings()
    origin = load_origin(settings, run_id)
    if checkout:
        raise typer.Exit(reproduce_in_worktree(settings, origin, ["repro", str(run_id)]))
    if origin.dirty:
        err.print(
            f"warning: run {run_id} was made from a tree with uncommitted changes; "
            f"its code may differ from commit {origin.git_commit}"
        )
    problems = check_workspace(settings, origin)
    if (
        origin.data_version
        and any(p.startswith("data:") for p in problems)
        and locate_data(settings, origin.data_version) is None
    ):
        raise missing_data_error(settings, origin)
    if problems:
        raise TunelabError(
            f"the working tree is not what run {run_id} was made from: {'; '.join(problems)}; or use --checkout"
        )
    outcome = reproduce(settings, origin)
    if outcome.status != "COMPLETED":
        console.print(outcomes_table([outcome]))
        raise typer.Exit(1)
    runs = db.connect(settings)["runs"]
    fields = {"result": 1, "info.summary": 1}
    console.print(repro_table(runs.find_one({"_id": run_id}, fields), runs.find_one({"_id": outcome.run_id}, fields)))
    same = outcome.result == origin.result
    console.print(
        f"run {outcome.run_id} reproduces run {run_id}: " + ("identical result" if same else "the result differs")
    )
