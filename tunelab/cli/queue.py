"""`tunelab worker` and `tunelab queue`: run queued runs on any machine, see and cancel what is queued."""

from __future__ import annotations

from typing import Annotated

import typer

from tunelab import db
from tunelab.cli._common import console, err
from tunelab.cli._output import outcomes_table, queue_table
from tunelab.settings import load_settings

app = typer.Typer()
queue_app = typer.Typer(no_args_is_help=True, help="The run queue: queued runs per batch, cancel queued runs.")

BatchOption = Annotated[str | None, typer.Option("--batch", help="Only this batch (its id from --enqueue).")]


@app.command()
def worker(
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes.")] = 1,
    batch: BatchOption = None,
    experiment: Annotated[str | None, typer.Option(help="Only runs of this experiment.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Keep polling for queued runs (until Ctrl-C).")] = False,
    any_commit: Annotated[
        bool, typer.Option("--any-commit", help="Also run runs enqueued at another git commit or data version.")
    ] = False,
) -> None:
    """Claim queued runs and run them here; exit when the queue is empty (exit 1 if a run failed or was refused)."""
    from tunelab.tracking.batch import BatchInterrupted, drain_queue, start_worker_server

    start_worker_server()  # its imports overlap the checks below
    from tunelab.tracking import queue

    settings = load_settings()
    database = db.connect(settings)
    queue.known_batch(database, batch)
    selector = queue.Selector(batch=batch, experiment=experiment, any_version=any_commit)
    try:
        outcomes = drain_queue(settings, selector, workers, keep_waiting=wait)
    except BatchInterrupted as interrupted:
        console.print(outcomes_table(interrupted.outcomes))
        raise typer.Exit(130) from None
    refusal = queue.refused(database, selector, queue.code_version(settings))
    if outcomes:
        console.print(outcomes_table(outcomes))
    elif refusal is None:
        console.print("queue empty: nothing to run" + (f" in batch {batch}" if batch else ""))
    if refusal is not None:
        err.print(refusal)
    if refusal is not None or any(o.status != "COMPLETED" for o in outcomes):
        raise typer.Exit(1)


@queue_app.command("list")
def queue_list(batch: BatchOption = None) -> None:
    """Queued, running (where), completed and failed runs per batch."""
    from tunelab.tracking import queue

    database = db.connect(load_settings())
    queue.known_batch(database, batch)
    console.print(queue_table(queue.batch_counts(database, batch)))


@queue_app.command("cancel")
def queue_cancel(batch: BatchOption = None) -> None:
    """Cancel (delete) queued runs, of one batch or all; running runs go on."""
    from tunelab.tracking import queue

    database = db.connect(load_settings())
    queue.known_batch(database, batch)
    console.print(f"cancelled {queue.cancel(database, batch)} queued run(s)")
