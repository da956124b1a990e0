"""N runs side by side: the config keys that differ, results, provenance and metric curves; and exports."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo.database import Database

from tunelab.dashboards.figures import curve_figures
from tunelab.dashboards.runs import find_runs, flatten, metric_curves, run_row, runs_by_id
from tunelab.dashboards.site import PageWriter, figure_html
from tunelab.errors import TunelabError

MISSING = "—"  # a key one run's config does not have


@dataclass(frozen=True)
class Comparison:
    runs: list[dict]  # run_row of each run, in the order asked
    differing: dict[str, list[Any]]  # config key → each run's value, only keys whose values differ
    same: dict[str, Any]  # config key → the value every run has

    def provenance(self) -> list[tuple[str, list[Any]]]:
        """Outcome and provenance rows: status, result, duration, data version, commit."""
        fields = ("status", "result", "duration_s", "data_version", "git_commit")
        return [(field, [row.get(field) for row in self.runs]) for field in fields]

    def metrics(self) -> list[tuple[str, list[Any]]]:
        """Each metric's last value per run."""
        names = sorted({k for row in self.runs for k in row if k.startswith("metrics.") and k.endswith(".last")})
        return [
            (name.removeprefix("metrics.").removesuffix(".last"), [row.get(name) for row in self.runs])
            for name in names
        ]


def compare_runs(database: Database, run_ids: Sequence[int]) -> Comparison:
    """Compare runs by id; TunelabError if fewer than two are given or one does not exist."""
    if len(run_ids) < 2:
        raise TunelabError("compare needs at least two run ids")
    runs = runs_by_id(database, run_ids)
    configs = [flatten(run.get("config", {})) for run in runs]
    keys = sorted({key for config in configs for key in config})
    differing, same = {}, {}
    for key in keys:
        values = [config.get(key, MISSING) for config in configs]
        if len({repr(v) for v in values}) > 1:
            differing[key] = values
        else:
            same[key] = values[0]
    return Comparison([run_row(run) for run in runs], differing, same)


def write_comparison_page(database: Database, comparison: Comparison, templates: Path, path: Path, source: str) -> Path:
    """One self-contained HTML file (plotly inlined): the differing keys highlighted, the rest, curves overlaid."""
    rows = [(f"config.{key}", values, True) for key, values in comparison.differing.items()]
    rows += [(f"config.{key}", [value] * len(comparison.runs), False) for key, value in comparison.same.items()]
    rows += [(label, values, False) for label, values in comparison.provenance()]
    rows += [(f"{name} (last)", values, False) for name, values in comparison.metrics()]
    run_ids = [row["run_id"] for row in comparison.runs]
    labels = {row["run_id"]: f"run {row['run_id']} ({row['experiment']})" for row in comparison.runs}
    curves = curve_figures(metric_curves(database, run_ids), labels)
    return PageWriter(templates, source).write(
        path,
        "compare.html",
        standalone=True,
        title=f"runs {', '.join(map(str, run_ids))}",
        runs=comparison.runs,
        rows=rows,
        n_differing=len(comparison.differing),
        n_same=len(comparison.same),
        curves=[(title, figure_html(figure)) for title, figure in curves],
    )


def export_runs(database: Database, run_filter: dict, fmt: str) -> str:
    """The matching runs as ``csv`` or ``json`` (records): one flat row each, ready for pandas."""
    if fmt not in ("csv", "json"):
        raise TunelabError(f"--format {fmt}: expected csv or json")
    import pandas as pd  # a third of a second; only exports need it

    frame = pd.DataFrame([run_row(run) for run in find_runs(database, run_filter)])
    if fmt == "csv":
        return frame.to_csv(index=False)
    buffer = io.StringIO()
    frame.to_json(buffer, orient="records", date_format="iso", indent=None)
    return buffer.getvalue() + "\n"
