"""Benchmark: Omniboard's runs list with tunelab's summary columns, against one Omniboard metric column.

    .venv/bin/python bench/board.py [--runs 1000 10000] [--repetitions 5]

Starts its own SecantusDB and Omniboard 2.16.1 (installed by `tunelab board`
into the cache if needed). Writes runs shaped like Sacred's (config, info with
``summary`` and ``metrics``, one 20-point metric each) with ``insert_many``,
then times the request Omniboard's runs table makes, ``limit`` 50 and 200:
with the summary custom columns (a projection of ``runs``) and with one metric
column (``omniboard.metric.columns``: a ``$lookup`` into ``metrics``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pymongo  # noqa: E402
from _bench import free_port, print_table, repeat  # noqa: E402
from bson import ObjectId  # noqa: E402

from tunelab.board.columns import register_columns  # noqa: E402
from tunelab.board.install import ensure_omniboard  # noqa: E402
from tunelab.board.server import Board  # noqa: E402
from tunelab.db import EmbeddedServer  # noqa: E402

DB = "bench"
# What Omniboard's runs table asks for by default (web/src/components/RunsTable/runsTable.js).
DEFAULT_SELECT = (
    "_id,heartbeat,experiment,command,host,stop_time,config,duration,result,start_time,"
    "resources,format,status,omniboard,metrics,meta"
)
METRIC_COLUMN = {"name": "val_accuracy_max", "metric_name": "val_accuracy", "extrema": "max"}


def write_runs(database: pymongo.database.Database, first: int, count: int) -> None:
    """Runs ``first`` .. ``first + count - 1``, each with one metric document, in batches."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for start in range(first, first + count, 1000):
        ids = range(start, min(start + 1000, first + count))
        metric_ids = {run_id: ObjectId() for run_id in ids}
        values = [0.5 + 0.02 * step for step in range(20)]
        database.metrics.insert_many(
            [
                {
                    "_id": metric_ids[i],
                    "run_id": i,
                    "name": "val_accuracy",
                    "steps": list(range(20)),
                    "values": values,
                    "timestamps": [now] * 20,
                }
                for i in ids
            ]
        )
        database.runs.insert_many(
            [
                {
                    "_id": i,
                    "experiment": {
                        "name": "mlp",
                        "base_dir": "/x",
                        "sources": [],
                        "dependencies": [],
                        "repositories": [],
                        "mainfile": "mlp.py",
                    },
                    "format": "MongoObserver-0.7.0",
                    "command": "run",
                    "host": {"hostname": "vm", "os": ["Linux"]},
                    "start_time": now,
                    "stop_time": now,
                    "heartbeat": now,
                    "status": "COMPLETED",
                    "result": 0.9,
                    "config": {"epochs": 20, "learning_rate": 0.001 * (1 + i % 7), "seed": i},
                    "meta": {"command": "run", "options": {}},
                    "resources": [],
                    "artifacts": [],
                    "captured_out": "",
                    "info": {
                        "data_version": "a" * 32,
                        "git_commit": "0123456789ab",
                        "metrics": [{"name": "val_accuracy", "id": str(metric_ids[i])}],
                        "summary": {"val_accuracy": {"best": 0.88, "last": 0.88, "min": 0.5, "max": 0.88, "steps": 20}},
                    },
                }
                for i in ids
            ]
        )


def runs_list(port: int, select: str, limit: int) -> None:
    url = f"http://127.0.0.1:{port}/{DB}/api/v1/Runs?select={select}&sort_by=_id&order_by=-1&limit={limit}"
    with urllib.request.urlopen(url, timeout=600) as response:
        assert len(response.read()) > 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()

    entry = ensure_omniboard()
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(Path(tmp) / "db", free_port())
        server.start()
        board = Board(Path(tmp) / "state")
        try:
            database = pymongo.MongoClient(server.url)[DB]
            register_columns(database, ["val_accuracy"])
            summary_paths = [c["config_path"] for c in database["omniboard.custom.columns"].find()]
            with_summary = ",".join([DEFAULT_SELECT, *summary_paths])
            port = free_port()
            board.start(entry, server.url, [DB], port=port)
            rows = []
            written = 0
            for total in sorted(args.runs):
                write_runs(database, written + 1, total - written)
                written = total
                for limit in (50, 200):
                    summary = repeat(lambda: runs_list(port, with_summary, limit), args.repetitions)
                    database["omniboard.metric.columns"].insert_one(dict(METRIC_COLUMN))
                    metric = repeat(
                        lambda: runs_list(port, f"{with_summary},{METRIC_COLUMN['name']}", limit), args.repetitions
                    )
                    database["omniboard.metric.columns"].delete_many({})
                    rows.append(
                        (
                            f"{total:,} runs, limit {limit}: summary columns",
                            summary,
                            metric,
                            "one Omniboard metric column",
                        )
                    )
            print_table(f"Omniboard runs list latency (median of {args.repetitions})", rows, unit="s")
        finally:
            board.stop()
            server.stop()


if __name__ == "__main__":
    main()
