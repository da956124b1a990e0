"""Benchmark: `tunelab dashboard` and `tunelab export` on 1,000 and 10,000 runs, time and peak memory.

    .venv/bin/python bench/dashboards.py [--runs 1000 10000] [--repetitions 5]

Starts its own SecantusDB and writes Sacred-shaped runs with ``insert_many``:
five experiments, two studies of a tenth of the runs each (trial numbers,
objective, searched params), a stack run, and one 100-point metric per run.
Each command runs as its own process, as a user runs it (imports included);
its peak memory is the process's maximum resident set. The baseline is what
a dashboard that loads everything does first: reading every run and metric
document whole with pymongo, nothing else.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pymongo  # noqa: E402
from _bench import free_port, print_table  # noqa: E402

from tunelab.db import EmbeddedServer  # noqa: E402

EXPERIMENTS = ["svm", "random_forest", "knn", "logistic_regression", "gradient_boosting"]
POINTS = 100
LOAD_EVERYTHING = (
    "import pymongo, sys; d = pymongo.MongoClient(sys.argv[1])[sys.argv[2]]; "
    "list(d.runs.find()); list(d.metrics.find())"
)


def write_runs(database: pymongo.database.Database, count: int) -> None:
    """``count`` runs; the first fifth are trials of two studies; the last one is a stack."""
    rng = random.Random(0)
    now = dt.datetime(2026, 11, 1)
    study_size = count // 10
    for start in range(1, count + 1, 1000):
        ids = range(start, min(start + 1000, count + 1))
        runs, metrics = [], []
        for i in ids:
            experiment = EXPERIMENTS[i % len(EXPERIMENTS)]
            C, depth = 10 ** rng.uniform(-2, 2), rng.randint(2, 16)
            values = [0.5 + 0.4 * (1 - 0.97**step) + rng.gauss(0, 0.01) for step in range(POINTS)]
            info = {
                "data_version": "a" * 32,
                "git_commit": "0123456789ab",
                "summary": {
                    "val_accuracy": {
                        "best": max(values),
                        "last": values[-1],
                        "min": min(values),
                        "max": max(values),
                        "steps": POINTS,
                    }
                },
            }
            if i <= 2 * study_size:
                experiment = "svm" if i <= study_size else "random_forest"
                info.update(
                    study=f"{experiment}-study",
                    trial=(i - 1) % study_size,
                    engine="optuna",
                    objective={"metrics": ["val_accuracy"], "directions": ["maximize"]},
                    params=["C"] if experiment == "svm" else ["max_depth"],
                )
            status = "COMPLETED" if rng.random() > 0.05 else "FAILED"
            runs.append(
                {
                    "_id": i,
                    "experiment": {"name": experiment},
                    "status": status,
                    "result": values[-1],
                    "start_time": now + dt.timedelta(minutes=i),
                    "stop_time": now + dt.timedelta(minutes=i, seconds=30),
                    "heartbeat": now,
                    "host": {"hostname": "vm"},
                    "command": "run",
                    "captured_out": "x" * 200,
                    "config": {"C": C, "max_depth": depth, "kernel": rng.choice(["rbf", "linear"]), "seed": i},
                    "info": info,
                }
            )
            metrics.append(
                {
                    "run_id": i,
                    "name": "val_accuracy",
                    "steps": list(range(POINTS)),
                    "values": values,
                    "timestamps": [now] * POINTS,
                }
            )
        database.runs.insert_many(runs)
        database.metrics.insert_many(metrics)
    database.runs.update_one(
        {"_id": count},
        {
            "$set": {
                "experiment.name": "stack",
                "status": "COMPLETED",
                "info": {
                    "held_out": {
                        "base": {"run1-svm": 0.91, "run2-knn": 0.9},
                        "ensemble": 0.93,
                        "best_single": "run1-svm",
                    },
                    "verdict": "ensemble beats the best single learner",
                    "meta_learner": "logistic_regression",
                    "ensemble_data": {"layer-1/run1-svm": {"score-m": 0.9}},
                    "source_runs": [1, 2],
                },
            }
        },
    )
    database.metrics.create_index([("run_id", 1), ("name", 1)])


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB) of one process running ``command``."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    tunelab = str(Path(sys.executable).parent / "tunelab")
    rows, memory = [], []
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(Path(tmp) / "db", free_port())
        server.start()
        try:
            for count in args.runs:
                name = f"bench{count}"
                write_runs(pymongo.MongoClient(server.url)[name], count)
                env = {**os.environ, "TUNELAB_MONGO_URL": server.url, "TUNELAB_DB_NAME": name}
                commands = {
                    "dashboard": [tunelab, "dashboard", "--out", f"{tmp}/site{count}"],
                    "export csv": [tunelab, "export", "--format", "csv"],
                    "baseline": [sys.executable, "-c", LOAD_EVERYTHING, server.url, name],
                }
                samples = {
                    label: [measure(cmd, env) for _ in range(args.repetitions)] for label, cmd in commands.items()
                }
                baseline = [seconds for seconds, _ in samples["baseline"]]
                for label in ("dashboard", "export csv"):
                    rows.append(
                        (
                            f"tunelab {label}, {count:,} runs",
                            [s for s, _ in samples[label]],
                            baseline,
                            f"read all {count:,} runs + metrics whole",
                        )
                    )
                    memory.append(
                        (
                            f"tunelab {label}, {count:,} runs",
                            max(m for _, m in samples[label]),
                            max(m for _, m in samples["baseline"]),
                        )
                    )
        finally:
            server.stop()
    print_table(
        f"dashboards and export, {POINTS}-point metric per run (median of {args.repetitions}, whole command)",
        rows,
        unit="s",
    )
    print(
        "peak resident memory (MiB): "
        + "; ".join(f"{label}: {mib:.0f} (baseline {base:.0f})" for label, mib, base in memory)
    )


if __name__ == "__main__":
    main()
