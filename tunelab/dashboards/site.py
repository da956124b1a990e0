"""``tunelab dashboard``: static HTML pages from the run database, opened offline in any browser.

Pages (templates in ``tunelab/dashboards/templates``, package data): ``index.html``
(experiments, studies, stacks), one per experiment (runs table, metric curves
of the best runs), one per study (Optuna's plots, counts, budgets) and one per
stack (mlens's layer table, ensemble vs best single). Plotly's JavaScript is
written once beside them; nothing is fetched from the network.
"""

from __future__ import annotations

import datetime as dt
import importlib
import math
import multiprocessing
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import plotly.graph_objects as go
import plotly.offline
from pymongo.database import Database

from tunelab.dashboards.figures import curve_figures, stack_figure, study_figures
from tunelab.dashboards.runs import best_first, find_runs, metric_curves, run_row
from tunelab.dashboards.studies import StudyRuns, group_studies, steps_run
from tunelab.errors import TunelabError

TEMPLATES = Path(__file__).parent / "templates"  # package data
SITE = Path("dashboards/site")  # the default output folder (git-ignored)
CURVE_RUNS = 10  # the runs whose curves an experiment page overlays: its best by result
STACK_FIELDS = ("info.held_out", "info.verdict", "info.meta_learner", "info.ensemble_data", "info.source_runs")


@dataclass(frozen=True)
class Site:
    index: Path
    pages: list[Path]


class PageWriter:
    """Renders the project's templates into a directory (or one standalone file, plotly inlined)."""

    def __init__(self, templates: Path, source: str) -> None:
        if not (templates / "base.html").is_file():
            raise TunelabError(f"{templates}: the dashboard templates are missing (base.html)")
        self.environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(templates), autoescape=True, undefined=jinja2.StrictUndefined
        )
        self.common = {"source": source, "generated": f"{dt.datetime.now():%Y-%m-%d %H:%M}"}

    def write(self, path: Path, template: str, standalone: bool = False, **values: Any) -> Path:
        plotly_inline = plotly.offline.get_plotlyjs() if standalone else None
        html = self.environment.get_template(template).render(
            **self.common, **values, standalone=standalone, plotly_inline=plotly_inline
        )
        path.write_text(html)
        return path


def figure_html(figure: go.Figure | str) -> str:
    """A figure as an HTML fragment (a note is passed through)."""
    if isinstance(figure, str):
        return figure
    return figure.to_html(full_html=False, include_plotlyjs=False, config={"responsive": True})


def table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], noun: str, links: Mapping[int, str] | None = None
) -> dict:
    """The JSON a page's sortable, paginated table is drawn from: ``noun`` names one row (``"study"``),
    ``links`` maps a column to a URL with ``{}`` for the cell."""
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return {
        "columns": list(columns),
        "rows": [[_plain(v) for v in row] for row in rows],
        "nouns": [noun, plural],
        "links": links or {},
    }


def build_site(
    database: Database, templates: Path, out_dir: Path, run_filter: Mapping[str, Any], source: str, query: str = ""
) -> Site:
    """Write every page for the runs matching ``run_filter``; returns the index and the pages written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_plotly(out_dir)
    writer = PageWriter(templates, source)
    # Study pages are drawn by a second process while this one does the rest: Optuna's importance
    # evaluator imports scikit-learn (a second), which it starts on while the runs are read.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        pool.submit(importlib.import_module, "optuna.importance")
        runs = find_runs(database, run_filter)
        by_experiment: dict[str, list[dict]] = defaultdict(list)
        for run in runs:
            by_experiment[run["experiment"]["name"]].append(run)
        studies = group_studies(runs)
        study_pages = pool.submit(_study_pages, templates, source, out_dir, studies)
        stacks = find_runs(
            database, {"$and": [run_filter, {"experiment.name": "stack", "status": "COMPLETED"}]}, STACK_FIELDS
        )
        pages = [
            _experiment_page(writer, database, out_dir, name, members)
            for name, members in sorted(by_experiment.items())
        ]
        pages += [_stack_page(writer, out_dir, run) for run in stacks]
        pages += study_pages.result()
    index = writer.write(
        out_dir / "index.html",
        "index.html",
        title="experiments, studies and stacks",
        total_runs=len(runs),
        query=query,
        experiments=_experiments_table(by_experiment),
        studies=_studies_table(studies),
        stacks=_stacks_table(stacks),
    )
    return Site(index, [index, *pages])


def page_name(kind: str, name: Any) -> str:
    """The file of a page; ``_table.js`` makes the same name from a table cell (see :func:`link`)."""
    return f"{kind}-{re.sub(r'[^A-Za-z0-9_.-]', '_', str(name))}.html"


def link(kind: str) -> str:
    """A table column's link: ``{}`` is the cell's value, made a file name as :func:`page_name` does."""
    return f"{kind}-{{}}.html"


def _experiments_table(by_experiment: Mapping[str, list[dict]]) -> dict:
    rows = []
    for name, runs in sorted(by_experiment.items()):
        statuses = [r["status"] for r in runs]
        ranked = best_first(runs)
        started = max((r["start_time"] for r in runs if r.get("start_time")), default=None)
        rows.append(
            [
                name,
                len(runs),
                statuses.count("COMPLETED"),
                statuses.count("FAILED"),
                ranked[0]["result"] if ranked else None,
                started,
            ]
        )
    return table(
        ["experiment", "runs", "completed", "failed", "best result", "last started"],
        rows,
        "experiment",
        {0: link("experiment")},
    )


def _studies_table(studies: Sequence[StudyRuns]) -> dict:
    rows = []
    for study in studies:
        counts, best = study.counts(), study.best()
        rows.append(
            [
                study.name,
                study.engine,
                study.experiment,
                len(study.runs),
                counts["COMPLETED"],
                counts["PRUNED"],
                counts["FAILED"],
                best[1] if best else None,
            ]
        )
    columns = ["study", "engine", "experiment", "trials", "completed", "pruned", "failed", "best"]
    return table(columns, rows, "study", {0: link("study")})


def _stacks_table(stacks: Sequence[dict]) -> dict:
    rows = []
    for run in stacks:
        held_out = run["info"]["held_out"]
        rows.append(
            [
                run["_id"],
                run["info"]["verdict"],
                held_out["ensemble"],
                held_out["best_single"],
                held_out["base"][held_out["best_single"]],
                run["info"].get("meta_learner"),
            ]
        )
    columns = ["stack run", "verdict", "ensemble", "best single", "best single score", "meta learner"]
    return table(columns, rows, "stack", {0: link("stack")})


def _experiment_page(writer: PageWriter, database: Database, out_dir: Path, name: str, runs: list[dict]) -> Path:
    flat = [run_row(r) for r in runs]
    keys = sorted({k for row in flat for k in row if k.startswith("config.")})
    metrics = sorted({k for row in flat for k in row if k.startswith("metrics.") and k.endswith(".last")})
    rows = [
        [
            row["run_id"],
            row["status"],
            row["result"] if _is_number(row["result"]) else None,
            row["duration_s"],
            row["start_time"],
            (row["data_version"] or "")[:12],
            row["git_commit"],
            row["study"],
            *(row.get(k) for k in keys),
            *(row.get(m) for m in metrics),
        ]
        for row in flat
    ]
    columns = [
        "run",
        "status",
        "result",
        "duration (s)",
        "started",
        "data version",
        "commit",
        "study",
        *(k.removeprefix("config.") for k in keys),
        *(f"{m.removeprefix('metrics.').removesuffix('.last')} (last)" for m in metrics),
    ]
    scored = best_first(runs)
    shown = (scored or list(reversed(runs)))[:CURVE_RUNS]
    curves = metric_curves(database, [r["_id"] for r in shown])
    labels = {r["_id"]: f"run {r['_id']} ({_short(r.get('result'))})" for r in shown}
    note = (
        f"The {len(shown)} best runs by result, of {len(runs)}; click a legend entry to hide or show a run. "
        "Curves longer than 500 points are downsampled, keeping every bucket's minimum and maximum."
    )
    return writer.write(
        out_dir / page_name("experiment", name),
        "experiment.html",
        title=f"experiment {name}",
        runs=table(columns, rows, "run", {7: link("study")}),
        curve_note=note,
        curves=[(title, figure_html(f)) for title, f in curve_figures(curves, labels)],
    )


def _study_pages(templates: Path, source: str, out_dir: Path, studies: Sequence[StudyRuns]) -> list[Path]:
    writer = PageWriter(templates, source)
    return [_study_page(writer, out_dir, study) for study in studies]


def _study_page(writer: PageWriter, out_dir: Path, study: StudyRuns) -> Path:
    rows = []
    for run in study.runs:
        values = study.objective(run) or [None] * len(study.metrics)
        rows.append(
            [
                run["info"].get("trial"),
                run["_id"],
                run["status"],
                *values,
                *(run.get("config", {}).get(p) for p in study.params),
                steps_run(run),
            ]
        )
    objective = ", ".join(f"{m} ({d})" for m, d in zip(study.metrics, study.directions, strict=False))
    return writer.write(
        out_dir / page_name("study", study.name),
        "study.html",
        title=f"study {study.name}",
        engine=study.engine,
        experiment=study.experiment,
        experiment_page=page_name("experiment", study.experiment),
        objective=objective,
        counts=study.counts(),
        trials=table(["trial", "run", "status", *study.metrics, *study.params, "steps"], rows, "trial"),
        plots=[(title, figure_html(f)) for title, f in study_figures(study)],
    )


def _stack_page(writer: PageWriter, out_dir: Path, run: dict) -> Path:
    info = run["info"]
    layer_rows = info.get("ensemble_data", {})
    columns = sorted({c for values in layer_rows.values() for c in values})
    layers = table(
        ["learner", *columns], [[name, *(values.get(c) for c in columns)] for name, values in layer_rows.items()], "row"
    )
    return writer.write(
        out_dir / page_name("stack", run["_id"]),
        "stack.html",
        title=f"stack run {run['_id']}",
        verdict=info["verdict"],
        meta=info.get("meta_learner"),
        sources=info.get("source_runs", []),
        layers=layers,
        plots=[("ensemble vs best single", figure_html(stack_figure(info["held_out"])))],
    )


def _write_plotly(out_dir: Path) -> None:
    script = plotly.offline.get_plotlyjs()
    path = out_dir / "plotly.min.js"
    if not path.is_file() or path.stat().st_size != len(script.encode()):
        path.write_text(script)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _short(value: Any) -> str:
    return f"{value:.4g}" if _is_number(value) else str(value)


def _plain(value: Any) -> Any:
    """A JSON-ready cell: datetimes as text, anything else unusual as its string."""
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
