"""`tunelab run`, `batch`, `sync`, `runs`: tracked runs one at a time, in batches, uploaded later, listed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from tunelab import db
from tunelab.cli._common import (
    ConfigOption,
    OfflineOption,
    SetOption,
    console,
    err,
)
from tunelab.cli._output import (
    outcomes_table,
    progress,
    runs_table,
)
from tunelab.errors import TunelabError
from tunelab.settings import load_settings

app = typer.Typer()


@app.command()
def run(
    experiment: Annotated[str, typer.Argument(help="Experiment name: experiments/<name>.py.")],
    config: ConfigOption = None,
    assignments: SetOption = [],
    offline: OfflineOption = False,
) -> None:
    """Run one experiment as a tracked Sacred run."""
    from tunelab.tracking.runner import execute, prepare_run

    settings = load_settings()
    request = prepare_run(settings, experiment, config, assignments)
    outcome = execute(settings, request, offline=offline)
    console.print(outcomes_table([outcome]))
    if outcome.status == "INTERRUPTED":
        raise typer.Exit(130)
    if outcome.status != "COMPLETED":
        raise typer.Exit(1)


@app.command()
def batch(
    configs: Annotated[list[Path], typer.Argument(help="JSON config files, one run each.")],
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes.")] = 1,
    experiment: Annotated[
        str | None, typer.Option(help="Experiment for every file (default: from each file name).")
    ] = None,
    assignments: SetOption = [],
    rerun: Annotated[bool, typer.Option(help="Run configs that already have a COMPLETED run.")] = False,
    offline: OfflineOption = False,
    enqueue: Annotated[
        bool, typer.Option("--enqueue", help="Only queue the runs, for `tunelab worker` on any machine.")
    ] = False,
) -> None:
    """Run one experiment per config file in worker processes; exit 1 if any run failed.

    Runs are claimed through the run queue, so batches started together on the
    same configs (on one machine or several) run each config once.
    """
    from tunelab.tracking.batch import (
        BatchInterrupted,
        completed_keys,
        run_batch,
        run_queued_batch,
        start_worker_server,
    )

    if not enqueue:
        start_worker_server()  # its imports overlap the checks and the enqueueing below
    from tunelab.tracking import liveness, queue
    from tunelab.tracking.registry import infer_experiment
    from tunelab.tracking.runner import RunRequest, prepare_run

    settings = load_settings()
    requests: list[RunRequest] = []
    for path in configs:
        name = experiment or infer_experiment(settings.experiments_dir, path)
        request = prepare_run(settings, name, path, assignments)
        requests.append(replace(request, info={"batch_key": request.key}))
    if offline and enqueue:
        raise TunelabError("--enqueue needs the database: it cannot be combined with --offline")
    if not offline:
        database = db.connect(settings)  # fail before any worker starts
        liveness.sweep(database, settings.failed_saves_dir)  # runs left RUNNING by dead processes
        if not rerun:
            done = completed_keys(database, requests)
            if done:
                err.print(f"skipping {len(done)} config(s) with a COMPLETED run already (--rerun to run them again)")
            requests = [r for r in requests if r.key not in done]
    if enqueue:
        batch_id = queue.new_batch_id()
        ids = queue.enqueue(settings, db.connect(settings), requests, batch_id, queue.code_version(settings))
        queued = [run_id for run_id in ids if run_id is not None]  # None: queued or running already
        if len(queued) < len(requests):
            err.print(f"{len(requests) - len(queued)} config(s) already queued or running: not queued again")
        console.print(
            f"queued {len(queued)} run(s) as batch {batch_id}; run them with `tunelab worker --batch {batch_id}`"
        )
        return
    with progress(len(requests)) as advance:
        try:
            if offline:
                outcomes = run_batch(settings, requests, workers, offline=True, on_outcome=advance)
            else:
                outcomes = run_queued_batch(settings, requests, workers, on_outcome=advance)
        except BatchInterrupted as interrupted:
            console.print(outcomes_table(interrupted.outcomes))
            raise typer.Exit(130) from None
    console.print(outcomes_table(outcomes))
    if any(o.status not in ("COMPLETED", "SKIPPED") for o in outcomes):  # SKIPPED: another process ran it
        raise typer.Exit(1)


@app.command()
def sync(
    directory: Annotated[
        Path | None, typer.Argument(help="Offline runs directory (default: .tunelab/offline).")
    ] = None,
) -> None:
    """Upload runs recorded with --offline; safe to run again (nothing is uploaded twice)."""
    from tunelab.tracking.sync import sync_offline_runs

    settings = load_settings()
    report = sync_offline_runs(db.connect(settings), directory or settings.offline_dir, str(settings.failed_saves_dir))
    for name, run_id in report.uploaded.items():
        console.print(f"uploaded {name} -> run {run_id}")
    for name, why in report.skipped.items():
        err.print(f"skipped {name}: {why}")
    console.print(
        f"{len(report.uploaded)} uploaded, {len(report.already_synced)} already synced, {len(report.skipped)} skipped"
    )


@app.command()
def runs(
    limit: Annotated[int, typer.Option(min=1, help="How many of the newest runs.")] = 20,
    sweep: Annotated[
        bool, typer.Option("--sweep", help="First mark FAILED the RUNNING runs whose process is gone.")
    ] = False,
) -> None:
    """List the newest runs in the database."""
    from tunelab.tracking import liveness

    settings = load_settings()
    database = db.connect(settings)
    if sweep:
        report = liveness.sweep(database, settings.failed_saves_dir)
        for run_id in report.landed:
            console.print(f"run {run_id}: its failed final save landed", markup=False, highlight=False)
        for run_id, reason in report.failed.items():
            console.print(f"run {run_id}: FAILED ({reason})", markup=False, highlight=False)
    records = (
        database["runs"]
        .find(
            {},
            {
                "experiment.name": 1,
                "status": 1,
                "result": 1,
                "start_time": 1,
                "stop_time": 1,
                "info.data_version": 1,
                "fail_trace": {"$slice": -1},
            },
        )
        .sort("_id", -1)
        .limit(limit)
    )
    console.print(runs_table(list(records)))
