"""`tunelab tune`: run or continue a search of a JSON spec or of a user's own ``FILE.py:FUNCTION``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tunelab.cli._common import (
    StorageOption,
    console,
)
from tunelab.cli._output import (
    study_tables,
    tune_progress,
)
from tunelab.errors import TunelabError
from tunelab.settings import load_settings

app = typer.Typer()


@app.command()
def tune(
    target: Annotated[str, typer.Argument(help="Search spec configs/search/<name>.json, or FILE.py:FUNCTION.")],
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes.")] = 1,
    storage: StorageOption = None,
    top: Annotated[int, typer.Option(min=1, help="How many best trials to list.")] = 5,
    study: Annotated[str | None, typer.Option(help="FILE.py:FUNCTION: the study (default: FUNCTION).")] = None,
    n_trials: Annotated[int | None, typer.Option(help="FILE.py:FUNCTION: the trial budget.")] = None,
    timeout: Annotated[float | None, typer.Option(help="FILE.py:FUNCTION: seconds per command.")] = None,
    direction: Annotated[
        list[str] | None, typer.Option(help="FILE.py:FUNCTION: maximize|minimize, once per returned value.")
    ] = None,
    sampler: Annotated[str | None, typer.Option(help="FILE.py:FUNCTION: tpe, random, cmaes, nsga2, gp.")] = None,
    pruner: Annotated[
        str | None, typer.Option(help="FILE.py:FUNCTION: none, median, successive_halving, hyperband.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="FILE.py:FUNCTION: the sampler's seed.")] = None,
    experiment: Annotated[str | None, typer.Option(help="FILE.py:FUNCTION: the runs' experiment name.")] = None,
    oracle: Annotated[
        str, typer.Option(help="HOST[:PORT] where a Keras Tuner search's chief listens (--workers > 1).")
    ] = "127.0.0.1",
) -> None:
    """Run or continue a search; every trial is a tracked run. Safe to re-run after a crash."""
    from tunelab.tracking import worker_process

    # search.start_worker_server(), called before that module's import (1.6 s) so that its own import overlaps ours
    worker_process.start_server(["tunelab.tuning.search"])
    from tunelab.tuning.objectives import OBJECTIVE_REF
    from tunelab.tuning.search import prepare_search, prepare_spec_search, run_search
    from tunelab.tuning.spec import objective_spec

    settings = load_settings()
    match = OBJECTIVE_REF.match(target)
    options = {"--study": study, "--n-trials": n_trials, "--timeout": timeout, "--direction": direction}
    options |= {"--sampler": sampler, "--pruner": pruner, "--seed": seed, "--experiment": experiment}
    if match is None:
        given = [name for name, value in options.items() if value]
        if given:
            raise TunelabError(f"{given[0]}: only for FILE.py:FUNCTION targets (a spec file says it in its keys)")
        search = prepare_search(settings, Path(target), storage, workers, oracle)
    else:
        directions = direction or ["maximize"]
        spec = objective_spec(
            f"{Path(match['file']).resolve()}:{match['function']}",
            study_name=study,
            budget={"n_trials": n_trials, "timeout": timeout},
            direction=directions[0] if len(directions) == 1 else directions,
            algorithm=sampler,
            pruner=None if pruner is None else {"name": pruner},
            seed=seed,
            experiment=experiment,
        )
        search = prepare_spec_search(settings, spec, storage, workers)
    with tune_progress(search.engine.n_trials) as update:
        run_search(settings, search, on_progress=update)
    for table in study_tables(search.engine.report(), top):
        console.print(table)
