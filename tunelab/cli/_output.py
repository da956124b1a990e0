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
