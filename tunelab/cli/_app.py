"""Commands: parse arguments, call the library, print. No logic of their own."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from tunelab import db
from tunelab.board.columns import register_columns
from tunelab.board.install import OMNIBOARD_VERSION, ensure_omniboard, entry_point
from tunelab.board.server import Board, is_loopback, parse_auth
from tunelab.cli._output import (
    comparison_table, model_versions_table, outcomes_table, progress, repro_table, runs_table, studies_table, study_tables,
    tune_progress, verdict_table,
)  # fmt: skip
from tunelab.dashboards.compare import compare_runs, export_runs, write_comparison_page
from tunelab.dashboards.query import parse_terms, run_filter
from tunelab.dashboards.site import SITE, TEMPLATES, build_site
from tunelab.errors import TunelabError
from tunelab.settings import load_settings
from tunelab.tracking.batch import BatchInterrupted, completed_keys, run_batch
from tunelab.tracking.registry import infer_experiment
from tunelab.tracking.runner import RunRequest, execute, prepare_run
from tunelab.tracking.sync import sync_offline_runs
from tunelab.ensembling.runs import run_stack
from tunelab.ensembling.spec import load_ensemble_spec
from tunelab.tuning.search import prepare_search, run_search
from tunelab.tuning.studies import export, list_studies, load_study
from tunelab.versioning import write_raw
from tunelab.versioning.models import list_models, model_versions, register
from tunelab.versioning.pipeline import STAGES, load_params
from tunelab.versioning.repro import (
    check_workspace, load_origin, locate_data, missing_data_error, reproduce, reproduce_in_worktree,
)  # fmt: skip

app = typer.Typer(
    no_args_is_help=True, add_completion=False,
    help="tunelab: tracked Sacred experiments, searches, stacks and dashboards.",
)
db_app = typer.Typer(no_args_is_help=True, help="Manage the embedded MongoDB server (SecantusDB).")
app.add_typer(db_app, name="db")
study_app = typer.Typer(no_args_is_help=True, help="Studies: list them, show one, export its trials.")
app.add_typer(study_app, name="study")
console = Console()
err = Console(stderr=True)

ConfigOption = Annotated[Optional[Path], typer.Option("--config", "-c", help="JSON config file.")]
SetOption = Annotated[list[str], typer.Option("--set", "-s", help="Override KEY=VALUE (repeatable).")]
OfflineOption = Annotated[
    bool, typer.Option("--offline", help="Record to a local directory; upload later with `tunelab sync`.")
]


def _embedded_or_fail():
    settings = load_settings()
    if settings.mongo_url:
        raise TunelabError(
            f"TUNELAB_MONGO_URL (or [database] url) points at {db.redact(settings.mongo_url)}: "
            "nothing embedded to manage"
        )
    return db.embedded_server(settings)


@db_app.command("start")
def db_start() -> None:
    """Start the embedded database (does nothing if it runs already)."""
    server = _embedded_or_fail()
    started = server.start()
    status = server.status()
    console.print(f"{'started' if started else 'already running'}: {status.url} (pid {status.pid})")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded database."""
    server = _embedded_or_fail()
    console.print("stopped" if server.stop() else "not running")


@db_app.command("status")
def db_status() -> None:
    """Say whether the database answers; exit 1 if it does not."""
    settings = load_settings()
    if settings.mongo_url:
        db.ping(settings.mongo_url)
        console.print(f"external MongoDB at {db.redact(settings.mongo_url)} answers")
        return
    status = db.embedded_server(settings).status()
    if not status.running:
        console.print(f"embedded database not running (would listen on {status.url})")
        raise typer.Exit(1)
    console.print(f"embedded database running: {status.url} (pid {status.pid}, data in {settings.state_dir / 'db'})")


@db_app.command("url")
def db_url() -> None:
    """Print the MongoDB URL tunelab uses."""
    settings = load_settings()
    console.print(settings.mongo_url or db.embedded_server(settings).url, highlight=False)


@app.command()
def run(
    experiment: Annotated[str, typer.Argument(help="Experiment name: experiments/<name>.py.")],
    config: ConfigOption = None,
    assignments: SetOption = [],
    offline: OfflineOption = False,
) -> None:
    """Run one experiment as a tracked Sacred run."""
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
        Optional[str], typer.Option(help="Experiment for every file (default: from each file name).")
    ] = None,
    assignments: SetOption = [],
    rerun: Annotated[bool, typer.Option(help="Run configs that already have a COMPLETED run.")] = False,
    offline: OfflineOption = False,
) -> None:
    """Run one experiment per config file in worker processes; exit 1 if any run failed."""
    settings = load_settings()
    requests: list[RunRequest] = []
    for path in configs:
        name = experiment or infer_experiment(settings.experiments_dir, path)
        request = prepare_run(settings, name, path, assignments)
        requests.append(replace(request, info={"batch_key": request.key}))
    if not offline:
        db.mongo_url(settings)  # fail before any worker starts
        if not rerun:
            done = completed_keys(settings, requests)
            if done:
                err.print(f"skipping {len(done)} config(s) with a COMPLETED run already (--rerun to run them again)")
            requests = [r for r in requests if r.key not in done]
    with progress(len(requests)) as advance:
        try:
            outcomes = run_batch(settings, requests, workers, offline=offline, on_outcome=advance)
        except BatchInterrupted as interrupted:
            console.print(outcomes_table(interrupted.outcomes))
            raise typer.Exit(130) from None
    console.print(outcomes_table(outcomes))
    if any(o.status != "COMPLETED" for o in outcomes):
        raise typer.Exit(1)


@app.command()
def sync(
    directory: Annotated[
        Optional[Path], typer.Argument(help="Offline runs directory (default: .tunelab/offline).")
    ] = None,
) -> None:
    """Upload runs recorded with --offline; safe to run again (nothing is uploaded twice)."""
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
) -> None:
    """List the newest runs in the database."""
    settings = load_settings()
    records = db.connect(settings)["runs"].find(
        {}, {"experiment.name": 1, "status": 1, "result": 1, "start_time": 1, "stop_time": 1, "info.data_version": 1}
    ).sort("_id", -1).limit(limit)
    console.print(runs_table(list(records)))


StorageOption = Annotated[
    Optional[str],
    typer.Option("--storage", help="Optuna storage: postgresql://… or a journal file (default: .tunelab/optuna/journal.log)."),
]


@app.command()
def tune(
    spec: Annotated[Path, typer.Argument(help="Search spec: configs/search/<name>.json.")],
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes.")] = 1,
    storage: StorageOption = None,
    top: Annotated[int, typer.Option(min=1, help="How many best trials to list.")] = 5,
) -> None:
    """Run or continue a search; every trial is a tracked run. Safe to re-run after a crash."""
    settings = load_settings()
    search = prepare_search(settings, spec, storage, workers)
    with tune_progress(search.spec.n_trials) as update:
        run_search(settings, search, on_progress=update)
    for table in study_tables(load_study(settings, search.spec.study_name, storage), top):
        console.print(table)


@study_app.command("list")
def study_list(storage: StorageOption = None) -> None:
    """Every study: Optuna's in the storage, Keras Tuner's under .tunelab/keras-tuner."""
    console.print(studies_table(list_studies(load_settings(), storage)))


@study_app.command("show")
def study_show(
    name: Annotated[str, typer.Argument(help="Study name.")],
    storage: StorageOption = None,
    top: Annotated[int, typer.Option(min=1, help="How many best trials to list.")] = 10,
    export_format: Annotated[
        Optional[str], typer.Option("--export", help="Print every trial as csv or json instead.")
    ] = None,
) -> None:
    """A study's counts by state and its best trials with their run ids (or --export csv|json)."""
    report = load_study(load_settings(), name, storage)
    if export_format is not None:
        if export_format not in ("csv", "json"):
            raise TunelabError(f"--export {export_format}: expected csv or json")
        print(export(report, export_format), end="")
        return
    for table in study_tables(report, top):
        console.print(table)


@app.command()
def board(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the web page.")] = 9000,
    host: Annotated[str, typer.Option(help="Listen address; anything but loopback exposes the board.")] = "127.0.0.1",
    auth: Annotated[Optional[str], typer.Option(help="USER:PASSWORD for HTTP basic auth.")] = None,
    databases: Annotated[
        list[str], typer.Option("--db", help="Database to show (repeatable; default: tunelab's).")
    ] = [],
    stop: Annotated[bool, typer.Option("--stop", help="Stop the running board.")] = False,
) -> None:
    """Start Omniboard over tunelab's database (installing it with npm on first use) and print its URL."""
    settings = load_settings()
    omniboard = Board(settings.state_dir)
    if stop:
        console.print("stopped" if omniboard.stop() else "not running")
        return
    credentials = parse_auth(auth) if auth is not None else None
    running = omniboard.status()
    if running is not None:
        console.print(f"Omniboard already runs: {running.url} (pid {running.pid})", highlight=False)
        return
    if not is_loopback(host) and credentials is None:
        err.print(f"warning: Omniboard will listen on {host}:{port} without --auth: anyone who reaches it can read and delete runs")
    if not entry_point().is_file():
        with err.status(f"installing Omniboard {OMNIBOARD_VERSION} with npm (once, about a minute)…"):
            ensure_omniboard()
    url = db.mongo_url(settings)  # starts the embedded database if needed
    mongo = db.client(url)
    names = databases or [settings.db_name]
    for name in names:
        register_columns(mongo[name], mongo[name]["metrics"].distinct("name"))
    status = omniboard.start(entry_point(), url, names, host, port, credentials)
    console.print(f"Omniboard: {status.url}  (pid {status.pid}; `tunelab board --stop` stops it)", highlight=False)


@app.command()
def stack(
    spec: Annotated[Path, typer.Argument(help="Ensemble spec: configs/ensemble/<name>.json.")],
    select_meta: Annotated[
        bool, typer.Option("--select-meta", help="Evaluate the candidate meta learners first; fit the winner.")
    ] = False,
) -> None:
    """Stack the learners of earlier runs (top trials of studies, or run ids) with mlens, as a tracked run."""
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


data_app = typer.Typer(no_args_is_help=True, help="The DVC-tracked data sets under data/raw.")
app.add_typer(data_app, name="data")


@data_app.command("write")
def data_write() -> None:
    """Write the data set files from scikit-learn (the same bytes every time); then `dvc add data`."""
    for path in write_raw(load_settings().data_dir):
        console.print(f"wrote {path}", highlight=False)


@app.command()
def pipeline(
    stage: Annotated[str, typer.Argument(help=f"One of: {', '.join(STAGES)}.")],
) -> None:
    """Run one stage of the DVC pipeline with params.yaml (dvc.yaml calls this; run them all with `dvc repro`)."""
    settings = load_settings()
    if stage not in STAGES:
        raise TunelabError(f"unknown pipeline stage {stage!r} (stages: {', '.join(STAGES)})")
    params = load_params(settings.project_dir)
    if stage not in ("prepare", "evaluate", "transform"):
        db.mongo_url(settings)  # starts the embedded database if needed
    result = STAGES[stage](settings, params)
    console.print_json(json.dumps(result, default=str))


@app.command()
def repro(
    run_id: Annotated[int, typer.Argument(help="The run to re-create.")],
    checkout: Annotated[
        bool, typer.Option("--checkout", help="Reproduce in a temporary git worktree at the run's commit, with its data.")
    ] = False,
) -> None:
    """Re-run a run with its config, seed, code and data as a new run linked to it (info.reproduces)."""
    settings = load_settings()
    origin = load_origin(settings, run_id)
    if checkout:
        raise typer.Exit(reproduce_in_worktree(settings, origin, ["repro", str(run_id)]))
    if origin.dirty:
        err.print(f"warning: run {run_id} was made from a tree with uncommitted changes; its code may differ from commit {origin.git_commit}")
    problems = check_workspace(settings, origin)
    if origin.data_version and any(p.startswith("data:") for p in problems) and locate_data(settings, origin.data_version) is None:
        raise missing_data_error(settings, origin)
    if problems:
        raise TunelabError(f"the working tree is not what run {run_id} was made from: {'; '.join(problems)}; or use --checkout")
    outcome = reproduce(settings, origin)
    if outcome.status != "COMPLETED":
        console.print(outcomes_table([outcome]))
        raise typer.Exit(1)
    runs = db.connect(settings)["runs"]
    fields = {"result": 1, "info.summary": 1}
    console.print(repro_table(runs.find_one({"_id": run_id}, fields), runs.find_one({"_id": outcome.run_id}, fields)))
    same = outcome.result == origin.result
    console.print(f"run {outcome.run_id} reproduces run {run_id}: " + ("identical result" if same else "the result differs"))


model_app = typer.Typer(no_args_is_help=True, help="The model registry: named, versioned models from runs.")
app.add_typer(model_app, name="model")


@model_app.command("register")
def model_register(
    run_id: Annotated[int, typer.Argument(help="The run whose model to register.")],
    name: Annotated[str, typer.Option("--name", help="Model name; each registration adds a version.")],
    artifact: Annotated[Optional[str], typer.Option(help="Artifact file (default: the run's only model file).")] = None,
) -> None:
    """Register a run's model as the next version of NAME (source run, artifact, metrics, data version, commit)."""
    version = register(load_settings(), run_id, name, artifact)
    console.print(f"registered {version.name} version {version.version} (run {version.run_id}, {version.artifact})", highlight=False)


@model_app.command("list")
def model_list() -> None:
    """Every registered model name with its latest version."""
    console.print(model_versions_table(list_models(load_settings()), "registered models (latest versions)"))


@model_app.command("show")
def model_show(name: Annotated[str, typer.Argument(help="Model name.")]) -> None:
    """Every version of a registered model."""
    console.print(model_versions_table(model_versions(load_settings(), name), f"model {name}"))


QueryOption = Annotated[
    Optional[str],
    typer.Option("--query", "-q", help="Query terms: 'experiment=svm status=COMPLETED config.C>1 since=2026-11-01'."),
]
WhereOption = Annotated[list[str], typer.Option("--where", help="One more query term, e.g. 'config.C>1' (repeatable).")]


def _source(settings) -> str:
    return f"{db.redact(db.mongo_url(settings))} database {settings.db_name}"


@app.command()
def dashboard(
    out: Annotated[Optional[Path], typer.Option(help="Output folder (default: dashboards/site).")] = None,
    query: QueryOption = None,
    where: WhereOption = [],
) -> None:
    """Write the HTML dashboards (experiments, studies, stacks) of the matching runs; prints the index page."""
    settings = load_settings()
    terms = parse_terms(query, where)
    out_dir = out or settings.project_dir / SITE
    with err.status("building the dashboards…"):
        site = build_site(db.connect(settings), settings.project_dir / TEMPLATES, out_dir, run_filter(terms),
                          _source(settings), " ".join(terms))  # fmt: skip
    console.print(f"{len(site.pages)} pages; open {site.index.resolve().as_uri()}", highlight=False, soft_wrap=True)


@app.command()
def compare(
    run_ids: Annotated[list[int], typer.Argument(help="Two or more run ids.")],
    html: Annotated[Optional[Path], typer.Option(help="Also write a self-contained HTML page here.")] = None,
) -> None:
    """Runs side by side: the config keys that differ, results, data version, commit, metrics."""
    settings = load_settings()
    database = db.connect(settings)
    comparison = compare_runs(database, run_ids)
    console.print(comparison_table(comparison))
    console.print(f"{len(comparison.differing)} config keys differ, {len(comparison.same)} are the same", highlight=False)
    if html is not None:
        page = write_comparison_page(database, comparison, settings.project_dir / TEMPLATES, html, _source(settings))
        console.print(f"wrote {page}", highlight=False, soft_wrap=True)


@app.command("export")
def export_command(
    export_format: Annotated[str, typer.Option("--format", "-f", help="csv or json.")] = "csv",
    query: QueryOption = None,
    where: WhereOption = [],
    out: Annotated[Optional[Path], typer.Option(help="Write here instead of standard output.")] = None,
) -> None:
    """The matching runs, one flat row each (config.*, metrics.<name>.last|min|max), for pandas."""
    settings = load_settings()
    text = export_runs(db.connect(settings), run_filter(parse_terms(query, where)), export_format)
    if out is None:
        print(text, end="")
    else:
        out.write_text(text)
