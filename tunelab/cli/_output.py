"""Tables and progress bars for the terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tunelab.tracking.runner import RunOutcome

STATUS_STYLE = {"COMPLETED": "green", "FAILED": "red", "INTERRUPTED": "yellow", "SKIPPED": "dim"}


def outcomes_table(outcomes: Sequence[RunOutcome]) -> Table:
    table = Table("run id", "experiment", "config", "status", "result", "duration")
    for o in outcomes:
        result = f"{o.result:.4f}" if isinstance(o.result, float) else ("" if o.result is None else str(o.result))
        style = STATUS_STYLE.get(o.status, "")
        table.add_row(
            "" if o.run_id is None else str(o.run_id),
            o.experiment,
            Path(o.config_file).name if o.config_file else "(defaults)",
            f"[{style}]{o.status}[/]",
            result if o.status != "FAILED" else (o.error or "")[:60],
            f"{o.duration_s:.1f} s" if o.duration_s else "",
        )
    return table


def runs_table(records: Sequence[dict]) -> Table:
    """Run documents (Sacred's schema) as a table."""
    table = Table("run id", "experiment", "status", "result", "duration", "data version")
    for run in records:
        duration = ""
        if run.get("stop_time") and run.get("start_time"):
            duration = f"{(run['stop_time'] - run['start_time']).total_seconds():.1f} s"
        result = run.get("result")
        style = STATUS_STYLE.get(run["status"], "")
        table.add_row(
            str(run["_id"]),
            run["experiment"]["name"],
            f"[{style}]{run['status']}[/]",
            f"{result:.4f}" if isinstance(result, float) else "" if result is None else str(result),
            duration,
            run.get("info", {}).get("data_version", "")[:12],
        )
    return table


@contextmanager
def progress(total: int) -> Iterator[Callable[[RunOutcome], None]]:
    """A progress bar on stderr; yields the callback that advances it by one finished run."""
    bar = Progress(
        TextColumn("runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
    )  # fmt: skip
    with bar:
        task = bar.add_task("runs", total=total)
        yield lambda outcome: bar.advance(task)
