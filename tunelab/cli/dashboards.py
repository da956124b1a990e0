"""`tunelab dashboard`, `compare`, `export`: what Omniboard cannot show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunelab import db
from tunelab.cli._common import (
    QueryOption,
    WhereOption,
    console,
    err,
    source_description,
)
from tunelab.cli._output import (
    comparison_table,
)
from tunelab.settings import load_settings

app = typer.Typer()


@app.command()
def dashboard(
    out: Annotated[Path | None, typer.Option(help="Output folder (default: dashboards/site).")] = None,
    query: QueryOption = None,
    where: WhereOption = [],
) -> None:
    """Write the HTML dashboards (experiments, studies, stacks) of the matching runs; prints the index page."""
    from tunelab.dashboards.query import parse_terms, run_filter
    from tunelab.dashboards.site import SITE, TEMPLATES, build_site

    settings = load_settings()
    terms = parse_terms(query, where)
    out_dir = out or settings.project_dir / SITE
    with err.status("building the dashboards…"):
        site = build_site(
            db.connect(settings),
            TEMPLATES,
            out_dir,
            run_filter(terms),
            source_description(settings),
            " ".join(terms),
        )
    console.print(f"{len(site.pages)} pages; open {site.index.resolve().as_uri()}", highlight=False, soft_wrap=True)


@app.command()
def compare(
    run_ids: Annotated[list[int], typer.Argument(help="Two or more run ids.")],
    html: Annotated[Path | None, typer.Option(help="Also write a self-contained HTML page here.")] = None,
) -> None:
    """Runs side by side: the config keys that differ, results, data version, commit, metrics."""
    from tunelab.dashboards.compare import compare_runs, write_comparison_page
    from tunelab.dashboards.site import TEMPLATES

    settings = load_settings()
    database = db.connect(settings)
    comparison = compare_runs(database, run_ids)
    console.print(comparison_table(comparison))
    console.print(
        f"{len(comparison.differing)} config keys differ, {len(comparison.same)} are the same", highlight=False
    )
    if html is not None:
        page = write_comparison_page(database, comparison, TEMPLATES, html, source_description(settings))
        console.print(f"wrote {page}", highlight=False, soft_wrap=True)


@app.command("export")
def export_command(
    export_format: Annotated[str, typer.Option("--format", "-f", help="csv or json.")] = "csv",
    query: QueryOption = None,
    where: WhereOption = [],
    out: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = None,
) -> None:
    """The matching runs, one flat row each (config.*, metrics.<name>.last|min|max), for pandas."""
    from tunelab.dashboards.compare import export_runs
    from tunelab.dashboards.query import parse_terms, run_filter

    settings = load_settings()
    text = export_runs(db.connect(settings), run_filter(parse_terms(query, where)), export_format)
    if out is None:
        print(text, end="")
    else:
        out.write_text(text)
