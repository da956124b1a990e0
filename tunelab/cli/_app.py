"""The root command: one sub-app per module, each a thin layer over the library (parse, call, print)."""

from __future__ import annotations

import typer

from tunelab.cli import board, dashboards, data, db, model, pipeline, project, queue, runs, stack, study, tune

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="tunelab: tracked Sacred experiments, searches, stacks and dashboards.",
)
for commands in (runs, queue, tune, board, stack, pipeline, dashboards, project):
    app.add_typer(commands.app)  # no name: the module's commands are top-level commands
app.add_typer(db.app, name="db")
app.add_typer(study.app, name="study")
app.add_typer(data.app, name="data")
app.add_typer(model.app, name="model")
app.add_typer(queue.queue_app, name="queue")
