"""`tunelab model`: the model registry."""

from __future__ import annotations

from typing import Annotated

import typer

from tunelab.cli._common import (
    console,
)
from tunelab.cli._output import (
    model_versions_table,
)
from tunelab.settings import load_settings

app = typer.Typer(no_args_is_help=True, help="The model registry: named, versioned models from runs.")


@app.command("register")
def model_register(
    run_id: Annotated[int, typer.Argument(help="The run whose model to register.")],
    name: Annotated[str, typer.Option("--name", help="Model name; each registration adds a version.")],
    artifact: Annotated[str | None, typer.Option(help="Artifact file (default: the run's only model file).")] = None,
) -> None:
    """Register a run's model as the next version of NAME (source run, artifact, metrics, data version, commit)."""
    from tunelab.versioning.models import register

    version = register(load_settings(), run_id, name, artifact)
    console.print(
        f"registered {version.name} version {version.version} (run {version.run_id}, {version.artifact})",
        highlight=False,
    )


@app.command("list")
def model_list() -> None:
    """Every registered model name with its latest version."""
    from tunelab.versioning.models import list_models

    console.print(model_versions_table(list_models(load_settings()), "registered models (latest versions)"))


@app.command("show")
def model_show(name: Annotated[str, typer.Argument(help="Model name.")]) -> None:
    """Every version of a registered model."""
    from tunelab.versioning.models import model_versions

    console.print(model_versions_table(model_versions(load_settings(), name), f"model {name}"))
