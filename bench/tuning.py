"""Benchmark: searches. Per-trial overhead, worker scaling, and Hyperband's epochs.

    .venv/bin/python bench/tuning.py [overhead] [workers] [epochs] [keras-tuner] [--repetitions 5]

Starts its own SecantusDB (as tunelab does, --sync-on-commit) in a temp dir.

* overhead: a trivial objective (return x) for --trials trials, per trial:
  tunelab's worker loop (each trial a tracked Sacred run) against raw Optuna
  ``study.optimize`` on the same storage, both TPE: a JSON spec and a
  ``FILE.py:FUNCTION`` objective on the journal file, the objective on
  PostgreSQL (--postgres URL; skipped when it is not reachable).
* workers: the same CPU-bound search (each trial spins the CPU for --work s)
  with ``--workers 2`` against ``--workers 1``, wall time of the whole command.
* epochs: the book's digits MLP. Epochs trained until the first trial reaches
  --target validation accuracy, and in the whole search, for Keras Tuner's
  Hyperband and Optuna TPE + Hyperband pruner against Keras Tuner random
  search with the same number of trials (the number Hyperband ran).
* keras-tuner (not run by default): a Keras Tuner random search on a small
  digits MLP (``digits_mlp.py``, --kt-epochs epochs a trial). Per trial, a
  search of --kt-trials trials with ``tunelab.keras_tuner.RandomSearch`` (each
  execution a tracked run, model artifact included) against plain
  ``keras_tuner.RandomSearch``, same seed and so the same configurations; and
  the wall time of ``tunelab tune`` of that hypermodel (--kt-worker-trials
  trials) with ``--workers 2`` against ``--workers 1``.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import statistics
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import optuna  # noqa: E402
import sqlalchemy  # noqa: E402
from _bench import free_port, print_table, repeat  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from tunelab import db  # noqa: E402
from tunelab.db import EmbeddedServer  # noqa: E402
from tunelab.settings import Settings, load_settings  # noqa: E402
from tunelab.tuning import objectives, optuna_engine  # noqa: E402
from tunelab.tuning.objectives import ObjectiveSearch  # noqa: E402
from tunelab.tuning.optuna_engine import SpecSearch  # noqa: E402
from tunelab.tuning.search import prepare_search, run_search, start_worker_server  # noqa: E402
from tunelab.tuning.spec import load_search_spec, objective_spec  # noqa: E402
from tunelab.tuning.storages import open_storage  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TARGET = "≤ 3×"  # a tracked trial's overhead against raw Optuna on the same storage (issue 13)

EXPERIMENTS = {
    "noop": '''
        """Returns its parameter: the cheapest possible trial."""
        from tunelab.tracking import ExperimentConfig, TrackedExperiment

        class Config(ExperimentConfig):
            x: float

        ex = TrackedExperiment("noop", Config)

        @ex.main
        def run(x):
            return x
    ''',
    "burn": '''
        """Spins the CPU for ``work`` seconds: a CPU-bound trial."""
        import time
        from tunelab.tracking import ExperimentConfig, TrackedExperiment

        class Config(ExperimentConfig):
            x: float
            work: float

        ex = TrackedExperiment("burn", Config)

        @ex.main
        def run(x, work):
            end = time.process_time() + work
            total = 0
            while time.process_time() < end:
                total += sum(range(1000))
            return x
    ''',
}


DIGITS_MLP = '''
    """A small MLP on the digits, for the Keras Tuner figures (tracked and plain tuners build the same models)."""
    import keras
    from sklearn.datasets import load_digits


    def build_model(hp):
        model = keras.Sequential([keras.Input(shape=(64,))])
        for i in range(hp.Int("num_layers", 1, 3)):
            model.add(keras.layers.Dense(hp.Int(f"units_{i}", 16, 64, 16), activation="relu"))
        model.add(keras.layers.Dense(10, activation="softmax"))
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model


    def load():
        digits = load_digits()
        x, y = digits.data.astype("float32") / 16.0, digits.target
        return {"x": x[:1400], "y": y[:1400], "validation_data": (x[1400:], y[1400:])}
'''


def write_project(root: Path) -> Path:
    (root / "experiments").mkdir(parents=True)
    (root / "configs").mkdir()
    for name, source in EXPERIMENTS.items():
        (root / "experiments" / f"{name}.py").write_text(textwrap.dedent(source))
    (root / "configs" / "noop.json").write_text('{"x": 0.5, "seed": 1}')
    (root / "configs" / "burn.json").write_text('{"x": 0.5, "work": 0.1, "seed": 1}')
    (root / "objective.py").write_text("def noop(trial):\n    return trial.suggest_float('x', 0, 1)\n")
    (root / "digits_mlp.py").write_text(textwrap.dedent(DIGITS_MLP))
    (root / "tunelab.toml").write_text("")
    return root


def write_spec(directory: Path, name: str, **spec) -> Path:
    path = directory / f"{name}.json"
    path.write_text(json.dumps({"seed": 0, **spec, "study_name": name}))
    return path


def use_project(project: Path, url: str, state: Path) -> Settings:
    os.environ.update(
        TUNELAB_PROJECT_DIR=str(project),
        TUNELAB_MONGO_URL=url,
        TUNELAB_DB_NAME="bench",
        TUNELAB_STATE_DIR=str(state),
    )
    return load_settings()


def bench_overhead(project: Path, url: str, tmp: Path, args) -> None:
    settings = use_project(project, url, tmp / "state-overhead")
    space = {"x": {"type": "float", "low": 0.0, "high": 1.0}}
    postgres = _reachable(args.postgres)
    rows, cpu_rows = [], []
    for storage_url, label in [(None, "journal file"), *([(args.postgres, "PostgreSQL")] if postgres else [])]:
        samples: dict[str, list[tuple[float, float]]] = {"spec": [], "objective": [], "raw": []}
        for rep in range(args.repetitions):
            name = f"overhead-{label[:3]}-{rep}-{os.getpid()}"
            if storage_url is None:
                spec_path = write_spec(
                    tmp, name, experiment="noop", metric="result", space=space, budget={"n_trials": args.trials}
                )
                spec = load_search_spec(settings, spec_path)
                SpecSearch(settings, spec, None).check(1)
                samples["spec"].append(_per_trial(lambda: optuna_engine.run_worker(settings, spec, None, 0), args))
            ospec = objective_spec(
                f"{project / 'objective.py'}:noop", study_name=f"{name}-obj", seed=0, budget={"n_trials": args.trials}
            )
            ObjectiveSearch(settings, ospec, storage_url).check(1)
            run_objective = lambda: objectives.run_worker(settings, ospec, storage_url, 0)  # noqa: E731
            samples["objective"].append(_per_trial(run_objective, args))
            study = optuna.create_study(
                study_name=f"{name}-raw",
                storage=open_storage(settings, storage_url).optuna,
                sampler=optuna.samplers.TPESampler(seed=0),
            )
            samples["raw"].append(
                _per_trial(lambda: study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=args.trials), args)
            )
        raw = samples.pop("raw")
        for kind, measured in samples.items():
            if measured:
                figure = f"{'JSON-spec' if kind == 'spec' else 'objective'} trial (tracked Sacred run), {label}"
                rows.append((figure, [m[0] for m in measured], [r[0] for r in raw], f"raw Optuna, {label}", TARGET))
                cpu_rows.append((figure, [m[1] for m in measured], [r[1] for r in raw], f"raw Optuna, {label}"))
    title = f"per trial, trivial objective, {args.trials} trials (median of {args.repetitions})"
    print_table(f"{title}: wall time", rows)
    print_table(f"{title}: CPU time of the process (the work, without waiting on fsync and the network)", cpu_rows)
    if not postgres:
        print(f"PostgreSQL at {db.redact(args.postgres)} not reachable: its rows were skipped")


def _per_trial(fn, args) -> tuple[float, float]:
    """(wall, CPU) seconds per trial of one call of ``fn`` running ``args.trials`` trials."""
    cpu = time.process_time()
    wall = repeat(fn, 1)[0]
    return wall / args.trials, (time.process_time() - cpu) / args.trials


def _reachable(url: str) -> bool:
    try:
        with sqlalchemy.create_engine(url, connect_args={"connect_timeout": 3}).connect():
            return True
    except Exception:  # noqa: BLE001 - any reason it cannot be used
        return False


def bench_workers(project: Path, url: str, tmp: Path, args) -> None:
    settings = use_project(project, url, tmp / "state-workers")
    space = {"x": {"type": "float", "low": 0.0, "high": 1.0}, "work": args.work}
    times: dict[int, list[float]] = {1: [], 2: []}
    for rep in range(args.repetitions):
        for workers in (1, 2):
            spec_path = write_spec(
                tmp,
                f"workers-{workers}-{rep}",
                experiment="burn",
                metric="result",
                space=space,
                budget={"n_trials": args.cpu_trials},
            )
            times[workers] += repeat(
                lambda: run_search(settings, prepare_search(settings, spec_path, None, workers)), 1
            )
    print_table(
        f"{args.cpu_trials} CPU-bound trials of {args.work} s, whole search (median of {args.repetitions})",
        [("--workers 2", times[2], times[1], "--workers 1")],
        unit="s",
    )
    speedup = statistics.median(times[1]) / statistics.median(times[2])
    print(
        f"speed-up of --workers 2 over --workers 1: {speedup:.2f}× "
        f"(target ≥ 1.8× on 2 cores; {os.cpu_count()} CPUs here)"
    )


def search_epochs(settings: Settings, study: str, target: float) -> tuple[int | None, int, float, int]:
    """(epochs until a trial first reached ``target``, epochs in all, best accuracy, trials) from the runs."""
    database = db.connect(settings)
    runs = list(database.runs.find({"info.study": study}, {"_id": 1}).sort("_id", 1))
    consumed, first_hit, best = 0, None, 0.0
    for run in runs:
        metric = database.metrics.find_one({"run_id": run["_id"], "name": "val_accuracy"}) or {"values": []}
        consumed += len(metric["values"])
        best = max([best, *metric["values"]])
        if first_hit is None and any(v >= target for v in metric["values"]):
            first_hit = consumed
    return first_hit, consumed, best, len(runs)


def bench_epochs(url: str, tmp: Path, args) -> None:
    settings = use_project(REPO, url, tmp / "state-epochs")
    base = json.loads((REPO / "configs" / "search" / "mlp_hyperband.json").read_text())
    rows: dict[str, list[tuple]] = {"kt-hyperband": [], "optuna-hyperband": [], "kt-random": []}
    for seed in range(args.repetitions):
        hyperband = write_spec(
            tmp,
            f"kt-hyperband-{seed}",
            **{**base, "seed": seed, "budget": {"max_epochs": args.max_epochs, "factor": 3}},
        )
        run_search(settings, prepare_search(settings, hyperband))
        rows["kt-hyperband"].append(search_epochs(settings, f"kt-hyperband-{seed}", args.target))
        n_trials = rows["kt-hyperband"][-1][3]
        space = {**base["space"], "epochs": args.max_epochs}
        random = write_spec(
            tmp,
            f"kt-random-{seed}",
            **{**base, "seed": seed, "algorithm": "random", "space": space, "budget": {"n_trials": n_trials}},
        )
        run_search(settings, prepare_search(settings, random))
        rows["kt-random"].append(search_epochs(settings, f"kt-random-{seed}", args.target))
        pruned = write_spec(
            tmp,
            f"optuna-hyperband-{seed}",
            **{
                **base,
                "seed": seed,
                "engine": "optuna",
                "algorithm": "tpe",
                "space": space,
                "budget": {"n_trials": n_trials},
                "pruner": {
                    "name": "hyperband",
                    "options": {"min_resource": 1, "max_resource": args.max_epochs, "reduction_factor": 3},
                },
            },
        )
        run_search(settings, prepare_search(settings, pruned))
        rows["optuna-hyperband"].append(search_epochs(settings, f"optuna-hyperband-{seed}", args.target))

    def median(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    random_first = median([r[0] for r in rows["kt-random"]])
    random_total = median([r[1] for r in rows["kt-random"]])
    table = Table(
        title=f"digits MLP, max {args.max_epochs} epochs a trial, target val_accuracy {args.target} "
        f"(median over {args.repetitions} seeds)"
    )
    for column in (
        "search",
        "trials",
        "epochs to target",
        "ratio vs random",
        "epochs in all",
        "ratio vs random",
        "best val_accuracy",
        "reached target",
    ):
        table.add_column(column)
    for name, results in rows.items():
        first, total = median([r[0] for r in results]), median([r[1] for r in results])
        table.add_row(
            name,
            str(median([r[3] for r in results])),
            "never" if first is None else f"{first:g}",
            f"{random_first / first:.2f}× fewer" if first and random_first else "",
            f"{total:g}",
            f"{random_total / total:.2f}× fewer",
            f"{median([r[2] for r in results]):.4f}",
            f"{sum(r[0] is not None for r in results)}/{len(results)}",
        )
    Console(width=160).print(table)


def bench_keras_tuner(project: Path, url: str, tmp: Path, args) -> None:
    """Both Keras Tuner figures in one run, on the project's ``digits_mlp.py`` hypermodel."""
    use_project(project, url, tmp / "state-kt")
    logging.disable(logging.INFO)  # Sacred's line per run started and completed
    import keras_tuner

    import tunelab.keras_tuner

    sys.path.insert(0, str(project))
    import digits_mlp

    data = {**digits_mlp.load(), "epochs": args.kt_epochs, "verbose": 0}
    tuners = {"plain": keras_tuner.RandomSearch, "tracked": tunelab.keras_tuner.RandomSearch}

    def per_trial(kind: str, name: str, seed: int, trials: int) -> float:
        # seed ≥ 1: Keras Tuner takes seed 0 as "no seed" (oracle.py: ``seed or random.randint``)
        tuner = tuners[kind](
            digits_mlp.build_model, objective="val_accuracy", max_trials=trials, seed=seed, directory=str(tmp / name)
        )
        (seconds,) = repeat(lambda: tuner.search(**data), 1)
        return seconds / trials

    per_trial("plain", "kt-warm-up", 1, 1)  # TensorFlow's first graph and thread pools, out of the figures
    samples: dict[str, list[float]] = {"plain": [], "tracked": []}
    for rep in range(args.repetitions):
        for kind in ("plain", "tracked") if rep % 2 == 0 else ("tracked", "plain"):
            samples[kind].append(per_trial(kind, f"kt-{kind}-{rep}", rep + 1, args.kt_trials))
    walls: dict[int, list[float]] = {1: [], 2: []}
    phases: dict[int, list[tuple[float, float, float]]] = {1: [], 2: []}
    for rep in range(args.repetitions):
        for workers in (1, 2) if rep % 2 == 0 else (2, 1):
            spec = {
                "hypermodel": "digits_mlp.py:build_model",
                "data": "digits_mlp.py:load",
                "metric": "val_accuracy",
                "fit": {"epochs": args.kt_epochs, "verbose": 0},
                "budget": {"n_trials": args.kt_worker_trials},
                "seed": rep + 1,
            }
            path = write_spec(tmp, f"kt-workers{workers}-{rep}", **spec)
            # as `tunelab tune` does: a worker server of its own, started before its checks
            multiprocessing.forkserver._forkserver._stop()
            start_worker_server()
            search = prepare_search(load_settings(), path, workers=workers)
            start = datetime.now(UTC).replace(tzinfo=None)  # Sacred's times are naive UTC
            walls[workers] += repeat(lambda search=search: run_search(load_settings(), search), 1)
            phases[workers].append(search_phases(load_settings(), search.engine.study_name, start, walls[workers][-1]))
    rows = [
        (
            f"tunelab.keras_tuner trial ({args.kt_trials} a search)",
            samples["tracked"],
            samples["plain"],
            "keras_tuner trial",
            "≤ 1.20×",
        ),
        (
            f"tunelab tune --workers 2 ({args.kt_worker_trials} trials)",
            walls[2],
            walls[1],
            "--workers 1",
            "≤ 0.59× (speed-up ≥ 1.7×)",
        ),
    ]
    print_table(
        f"Keras Tuner random search, digits MLP, {args.kt_epochs} epochs a trial (median of {args.repetitions})",
        rows,
    )
    speedup = statistics.median(walls[1]) / statistics.median(walls[2])
    print(f"speed-up of --workers 2 over --workers 1: {speedup:.2f}× (target ≥ 1.7×; {os.cpu_count()} CPUs here)")
    table = Table(title=f"Where a tunelab tune command's wall time goes (s, median of {args.repetitions})")
    for column in ("command", "start: to the first run", "trials: first run to last run's end", "end: to exit", "all"):
        table.add_column(column)
    for workers in (1, 2):
        medians = [statistics.median(p[i] for p in phases[workers]) for i in range(3)]
        wall = statistics.median(walls[workers])
        table.add_row(f"--workers {workers}", *(f"{m:.2f}" for m in medians), f"{wall:.2f}")
    Console(width=160).print(table)
    trials = {workers: statistics.median(p[1] for p in phases[workers]) for workers in (1, 2)}
    ceiling = cpu_ceiling(args.repetitions)
    print(
        f"speed-up of the trials phase alone: {trials[1] / trials[2]:.2f}×; this machine's ceiling: two processes "
        f"spinning the CPU do {ceiling:.2f}× the work of one in the same time"
    )


def spin(iterations: int) -> int:
    """CPU-bound Python, as a trial's Keras fit loop mostly is."""
    total = 0
    for _ in range(iterations):
        total += sum(range(1000))
    return total


def cpu_ceiling(repetitions: int) -> float:
    """How much faster two processes do a CPU-bound job split in two than one process does it whole (median):
    the most any --workers 2 search can gain here, where other programs share the cores."""
    start, iterations = time.perf_counter(), 0
    while time.perf_counter() - start < 0.5:
        spin(1000)
        iterations += 1000
    work = iterations * 3  # about 1.5 s of one core
    ratios = []
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(spin, [1, 1], chunksize=1)  # both processes started
        for _ in range(repetitions):
            (one,) = repeat(lambda: pool.apply(spin, (work,)), 1)
            (two,) = repeat(lambda: pool.map(spin, [work // 2, work // 2], chunksize=1), 1)
            ratios.append(one / two)
    return statistics.median(ratios)


def search_phases(settings: Settings, study: str, start: datetime, wall: float) -> tuple[float, float, float]:
    """A search command's wall time in three: until its first run starts (imports, TensorFlow, the
    oracle), its runs (first start to last stop), and after its last run ends until it returns."""
    runs = list(db.connect(settings)["runs"].find({"info.study": study}, {"start_time": 1, "stop_time": 1}))
    first = min(run["start_time"] for run in runs)
    last = max(run["stop_time"] for run in runs)
    before, during = (first - start).total_seconds(), (last - first).total_seconds()
    return before, during, wall - before - during


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", default=["overhead", "workers", "epochs"])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--trials", type=int, default=50, help="trials per repetition (overhead)")
    parser.add_argument("--postgres", default="postgresql+psycopg2://postgres@127.0.0.1:5432/test", help="(overhead)")
    parser.add_argument("--cpu-trials", type=int, default=20, help="trials per search (workers)")
    parser.add_argument("--work", type=float, default=1.0, help="CPU seconds per trial (workers)")
    parser.add_argument("--max-epochs", type=int, default=9, help="Hyperband's max_epochs (epochs)")
    parser.add_argument("--target", type=float, default=0.97, help="validation accuracy to reach (epochs)")
    parser.add_argument("--kt-trials", type=int, default=4, help="trials per search, per-trial figure (keras-tuner)")
    parser.add_argument("--kt-worker-trials", type=int, default=12, help="trials per search, workers (keras-tuner)")
    parser.add_argument("--kt-epochs", type=int, default=5, help="epochs per trial (keras-tuner)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.disable(logging.INFO)  # Sacred's start and end lines for every in-process run

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        project = write_project(tmp / "project")
        server = EmbeddedServer(tmp / "db", free_port())
        server.start()
        try:
            if "overhead" in args.sections:
                bench_overhead(project, server.url, tmp, args)
            if "workers" in args.sections:
                bench_workers(project, server.url, tmp, args)
            if "epochs" in args.sections:
                bench_epochs(server.url, tmp, args)
            if "keras-tuner" in args.sections:
                bench_keras_tuner(project, server.url, tmp, args)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
