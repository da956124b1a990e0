"""Tables and progress bars for the terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

if TYPE_CHECKING:  # types only: a command imports the library it calls, no other command's
    from tunelab.dashboards.compare import Comparison
    from tunelab.tracking.queue import BatchCounts
    from tunelab.tracking.runner import RunOutcome
    from tunelab.tuning.engines import TrialCounts
    from tunelab.tuning.reports import StudyReport
    from tunelab.versioning.models import ModelVersion

STATUS_STYLE = {
    "COMPLETED": "green",
    "FAILED": "red",
    "INTERRUPTED": "yellow",
    "SKIPPED": "dim",
    "PRUNED": "cyan",
    "RUNNING": "blue",
}


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
    """Run documents (Sacred's schema) as a table; a failed run's result cell says why (its trace's last line)."""
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
            f"{result:.4f}" if isinstance(result, float) else str(result) if result is not None else _why(run),
            duration,
            run.get("info", {}).get("data_version", "")[:12],
        )
    return table


def _why(run: dict) -> str:
    """The last line of a failed run's trace (``TunelabError: unknown data set…``), escaped for rich."""
    trace = run.get("fail_trace") or [""]
    lines = "".join(trace[-1:]).strip().splitlines()
    return escape(lines[-1]) if lines else ""


def queue_table(counts: Sequence[BatchCounts]) -> Table:
    table = Table("batch", "queued", "running", "where", "completed", "failed")
    for batch in counts:
        where = ", ".join(batch.running[:3]) + (f" +{len(batch.running) - 3}" if len(batch.running) > 3 else "")
        table.add_row(
            batch.batch, str(batch.queued), str(len(batch.running)), where, str(batch.completed), str(batch.failed)
        )
    return table


@contextmanager
def progress(total: int) -> Iterator[Callable[[RunOutcome], None]]:
    """A progress bar on stderr; yields the callback that advances it by one finished run."""
    bar = Progress(
        TextColumn("runs"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=(console := Console(stderr=True)),
        transient=True,
        disable=not console.is_terminal,  # a log file or a pipe gets no bar (and no blank line where it was)
    )
    with bar:
        task = bar.add_task("runs", total=total)
        yield lambda outcome: bar.advance(task)


MAX_PARAM_COLUMNS = 5  # a study's top-trials table gives each parameter a column up to this many


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else "" if value is None else str(value)


def studies_table(reports: Sequence[StudyReport]) -> Table:
    names = Column("study", overflow="fold")  # wrapped, never cut: it is what `tunelab study show` takes
    table = Table(names, "engine", "experiment", "objective", "complete", "pruned", "failed", "running", "best")
    for report in reports:
        counts, best = report.counts(), report.best()
        objective = ", ".join(f"{m} ({d[:3]})" for m, d in zip(report.metrics, report.directions, strict=False))
        table.add_row(
            report.name,
            report.engine,
            report.experiment,
            objective,
            str(counts["COMPLETE"]),
            str(counts["PRUNED"]),
            str(counts["FAIL"]),
            str(counts["RUNNING"]),
            _number(best.values[0]) if best else "",
        )
    return table


def study_tables(report: StudyReport, top: int) -> list[Table]:
    """The counts by state, then the ``top`` best complete trials with their run ids."""
    counts = Table(*report.counts(), title=f"study {report.name} ({report.engine}, {report.experiment})")
    counts.add_row(*(str(n) for n in report.counts().values()))
    ranked = report.ranked()[:top]
    params = sorted({name for t in ranked for name in t.params})
    # a column each while they fit; else one wrapped column (a hypermodel's units_0…units_19)
    columns = params if len(params) <= MAX_PARAM_COLUMNS else ["parameters"]
    trials = Table("rank", "trial", "run id", *report.metrics, *columns, "duration", title=f"top {len(ranked)} trials")
    for rank, t in enumerate(ranked, start=1):
        if columns is params:
            cells = [_number(t.params.get(p)) for p in params]
        else:
            cells = [", ".join(f"{p}={_number(t.params[p])}" for p in params if p in t.params)]
        trials.add_row(
            str(rank),
            str(t.number),
            _number(t.run_id),
            *(_number(v) for v in t.values),
            *cells,
            f"{t.duration_s:.1f} s" if t.duration_s else "",
        )
    return [counts, trials]


@contextmanager
def tune_progress(total: int | None) -> Iterator[Callable[[TrialCounts], None]]:
    """A progress bar of finished trials; yields the callback that updates it from trial counts."""
    bar = Progress(
        TextColumn("trials"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=(console := Console(stderr=True)),
        transient=True,
        disable=not console.is_terminal,
    )
    with bar:
        task = bar.add_task("trials", total=total, detail="")

        def update(counts: TrialCounts) -> None:
            detail = f"{counts.pruned} pruned, {counts.failed} failed, {counts.running} running"
            bar.update(task, completed=counts.finished, detail=detail)

        yield update


def verdict_table(run_id, info: dict) -> Table:
    """Each base learner, the best single one and the ensemble on held-out data, and the verdict."""
    held_out = info["held_out"]
    sign = -1 if info.get("result_direction") == "minimize" else 1  # the scorer's: an rmse is better lower
    table = Table("learner", "held-out score", title=f"stack run {run_id}: {info['verdict']}")
    for name, score in sorted(held_out["base"].items(), key=lambda item: -sign * item[1]):
        table.add_row(name + ("  (best single)" if name == held_out["best_single"] else ""), f"{score:.4f}")
    margin = sign * (held_out["ensemble"] - held_out["base"][held_out["best_single"]])
    table.add_row(
        f"[bold]ensemble[/] (meta: {info['meta_learner']})",
        f"[{'green' if margin > 0 else 'red'}]{held_out['ensemble']:.4f}[/]",
    )
    table.add_row("ensemble's margin over the best single", f"{margin:+.2g}")  # a tie at 4 decimals shows here
    return table


def repro_table(original: dict, reproduction: dict) -> Table:
    """The original run and its reproduction side by side: result and each metric's last value, and the difference."""
    metrics = sorted(
        set(original.get("info", {}).get("summary", {})) | set(reproduction.get("info", {}).get("summary", {}))
    )

    def values(run: dict) -> list:
        summary = run.get("info", {}).get("summary", {})
        return [run.get("result"), *(summary.get(m, {}).get("last") for m in metrics)]

    table = Table("", "run id", "result", *metrics, title=f"reproduction of run {original['_id']}")
    table.add_row("original", str(original["_id"]), *(_number(v) for v in values(original)))
    table.add_row("reproduction", str(reproduction["_id"]), *(_number(v) for v in values(reproduction)))
    differences = [
        b - a if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None
        for a, b in zip(values(original), values(reproduction), strict=False)
    ]
    table.add_row("difference", "", *(_number(d) for d in differences))
    return table


def model_versions_table(versions: Sequence[ModelVersion], title: str) -> Table:
    table = Table(
        "name",
        "version",
        "run id",
        "experiment",
        "artifact",
        "metrics",
        "data version",
        "commit",
        "registered",
        title=title,
    )
    for v in versions:
        metrics = ", ".join(f"{name}={_number(value)}" for name, value in sorted(v.metrics.items()))
        table.add_row(
            v.name,
            str(v.version),
            str(v.run_id),
            v.experiment,
            v.artifact,
            metrics,
            (v.data_version or "")[:12],
            v.git_commit or "",
            f"{v.registered_at:%Y-%m-%d %H:%M}",
        )
    return table


def comparison_table(comparison: Comparison) -> Table:
    """The config keys that differ (highlighted), then outcome, provenance and each metric's last value."""
    table = Table("", *(f"run {row['run_id']} ({row['experiment']})" for row in comparison.runs))
    for key, values in comparison.differing.items():
        table.add_row(f"[yellow]config.{key}[/]", *(f"[yellow]{_number(v)}[/]" for v in values))
    for label, values in comparison.provenance():
        table.add_row(label, *(_number(v) for v in values))
    for name, values in comparison.metrics():
        table.add_row(f"{name} (last)", *(_number(v) for v in values))
    return table
