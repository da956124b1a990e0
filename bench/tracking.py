"""Benchmark: the cost of tracking a run, and metric throughput, on the embedded database.

    .venv/bin/python bench/tracking.py [--runs 30] [--repetitions 5]

Starts its own SecantusDB (as tunelab does, --sync-on-commit) in a temp dir.
Per-run overhead = median wall time of a trivial run, tracked by tunelab, minus
nothing: it is compared with the same function called untracked and with stock
Sacred's MongoObserver (the baseline the issue names, 68 ms measured before).
Throughput = 10^5 log_scalar points reaching the database, against raw pymongo
insert_many of the same points.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import textwrap
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pymongo  # noqa: E402
from _bench import free_port, print_table, repeat  # noqa: E402

from tunelab.db import EmbeddedServer  # noqa: E402
from tunelab.settings import load_settings  # noqa: E402
from tunelab.tracking.registry import load_experiment  # noqa: E402

EXPERIMENT = '''
"""A trivial experiment for the benchmark."""
from sacred import Experiment
from sacred.observers import MongoObserver
from tunelab.tracking import ExperimentConfig, TrackedExperiment

class Config(ExperimentConfig):
    points: int

ex = TrackedExperiment("trivial", Config)

@ex.main
def run(points):
    for step in range(points):
        ex.log_scalar("value", step * 0.5, step)
    return 1.0

stock = Experiment("trivial_stock")
stock.add_config({"points": 0})

@stock.main
def stock_run(points):
    return 1.0
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="runs per repetition")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--points", type=int, default=100_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "experiments").mkdir()
        (project / "configs").mkdir()
        (project / "experiments" / "trivial.py").write_text(textwrap.dedent(EXPERIMENT))
        (project / "configs" / "trivial.json").write_text('{"points": 0, "seed": 1}')
        (project / "tunelab.toml").write_text("")
        server = EmbeddedServer(project / "state", free_port())
        server.start()
        try:
            run_benchmarks(project, server.url, args)
        finally:
            server.stop()


def run_benchmarks(project: Path, url: str, args: argparse.Namespace) -> None:
    os.environ.update(TUNELAB_PROJECT_DIR=str(project), TUNELAB_MONGO_URL=url, TUNELAB_DB_NAME="bench")
    settings = load_settings()
    ex = load_experiment(settings.experiments_dir, "trivial")
    module = sys.modules["tunelab_experiments.trivial"]
    from sacred.observers import MongoObserver

    module.stock.observers.append(MongoObserver(url=url, db_name="bench_stock"))

    def per_run(fn):
        return [t / args.runs for t in repeat(lambda: [fn() for _ in range(args.runs)], args.repetitions)]

    ex.run()  # warm up: connections, GridFS sources
    module.stock.run()
    untracked = per_run(lambda: sum(step * 0.5 for step in range(0)))
    tracked = per_run(ex.run)
    stock = per_run(module.stock.run)

    client = pymongo.MongoClient(url)
    raw = client["bench_raw"]["metrics"]

    def insert_raw():
        now = datetime.now(UTC)
        raw.insert_many(
            [{"run_id": 0, "name": "value", "step": s, "value": s * 0.5, "timestamp": now} for s in range(args.points)]
        )

    def tracked_points():
        run = ex.run(config_updates={"points": args.points})
        stored = client["bench"]["metrics"].find_one({"run_id": run._id, "name": "value"}, {"steps": {"$slice": -1}})
        assert stored["steps"] == [args.points - 1]

    raw_times = repeat(insert_raw, args.repetitions)
    point_times = repeat(tracked_points, args.repetitions)

    print_table(
        f"tracked trivial run, per run (median of {args.repetitions} × {args.runs} runs)",
        [
            ("tunelab tracked run", tracked, stock, "stock Sacred MongoObserver"),
        ],
    )
    overhead_ms = (statistics.median(tracked) - statistics.median(untracked)) * 1e3
    print(f"per-run tracking overhead (tracked − untracked call): {overhead_ms:.1f} ms (target ≤ 20 ms)")
    print_table(
        f"{args.points:,} log_scalar points reaching the database (median of {args.repetitions})",
        [("tunelab run logging them", point_times, raw_times, "raw pymongo insert_many")],
        unit="s",
    )


if __name__ == "__main__":
    main()
