"""Benchmark: the run queue (claims, workers) against batches that hand configs to their workers directly.

    .venv/bin/python bench/run_queue.py [--runs 20] [--cpu-runs 8] [--cpu-s 1.0] [--repetitions 5]

Starts its own SecantusDB and a throwaway project with one experiment, ``spin``
(busy for ``cpu_s`` seconds of CPU, 0 for a trivial run). Each repetition uses
a fresh database. Measures:

* wall time of ``--runs`` trivial queued runs drained by 1, 2 and 4 worker
  processes, against the pre-queue batch (``run_batch``: configs handed to a
  process pool) with as many workers, on the same configs;
* the latency of one claim (a conditional ``update_one`` QUEUED→RUNNING, plus the
  check that no other run has the config) with 4 processes claiming at once,
  median and p99, against 1 process claiming alone, and against the claim's
  write alone (4 processes making only that conditional write: the floor of
  any claim, since the server commits one write at a time);
* the database server's CPU time (all its threads) per claim while those claims
  ran, and per write while the floor's writes ran, with 4 processes and with 1:
  what one claim costs the server, which serves its requests one at a time;
* wall time of ``--cpu-runs`` CPU-bound runs with 2 workers against 1, cold
  (each repetition starts the server process the workers fork from, which
  imports tunelab once: what one ``tunelab worker`` command pays) and warm.

The trivial-run rows are warm after their first repetition.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import multiprocessing
import multiprocessing.forkserver
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil  # noqa: E402
import pymongo  # noqa: E402
from _bench import free_port, print_table  # noqa: E402

from tunelab import db  # noqa: E402
from tunelab.db import EmbeddedServer  # noqa: E402
from tunelab.settings import Settings, load_settings  # noqa: E402
from tunelab.tracking import queue  # noqa: E402
from tunelab.tracking.batch import drain_queue, run_batch  # noqa: E402
from tunelab.tracking.observers import ensure_indexes  # noqa: E402
from tunelab.tracking.runner import RunRequest, prepare_run  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SPIN = '''"""Busy for cpu_s seconds of CPU time."""

import time

from pydantic import Field

from tunelab.tracking import ExperimentConfig, TrackedExperiment


class Config(ExperimentConfig):
    cpu_s: float = Field(ge=0)
    n: int


ex = TrackedExperiment("spin", Config)


@ex.main
def run(cpu_s, n):
    end = time.process_time() + cpu_s
    while time.process_time() < end:
        pass
    return n
'''
CLAIMS_PER_PROCESS = 50


def make_project(root: Path) -> Path:
    project = root / "project"
    (project / "experiments").mkdir(parents=True)
    (project / "configs").mkdir()
    (project / "tunelab.toml").write_text("")
    (project / "experiments" / "spin.py").write_text(SPIN)
    (project / "configs" / "spin.json").write_text('{"cpu_s": 0.0, "n": 0, "seed": 1}')
    return project


def requests(settings: Settings, count: int, cpu_s: float) -> list[RunRequest]:
    return [prepare_run(settings, "spin", None, [f"n={i}", f"cpu_s={cpu_s}"]) for i in range(count)]


def fresh(settings: Settings) -> Settings:
    return dataclasses.replace(settings, db_name=f"bench_{uuid.uuid4().hex[:8]}")


def queue_wall(settings: Settings, count: int, cpu_s: float, workers: int, cold: bool = False) -> float:
    """Seconds for ``workers`` processes to drain ``count`` queued runs (enqueueing not counted).

    ``cold``: the worker processes' server process starts afresh (and imports tunelab), as in
    one ``tunelab worker`` command; otherwise it is the one earlier drains of this process started.
    """
    settings = fresh(settings)
    batch = queue.new_batch_id()
    queue.enqueue(settings, db.connect(settings), requests(settings, count, cpu_s), batch, queue.code_version(settings))
    if cold:
        multiprocessing.forkserver._forkserver._stop()  # private, but the only way to stop it (its own tests use it)
    start = time.perf_counter()
    outcomes = drain_queue(settings, queue.Selector(batch=batch), workers)
    assert len(outcomes) == count and {o.status for o in outcomes} == {"COMPLETED"}, outcomes
    return time.perf_counter() - start


def batch_wall(settings: Settings, count: int, workers: int) -> float:
    """Seconds for the pre-queue batch (configs handed to the pool) to run ``count`` trivial runs."""
    settings = fresh(settings)
    prepared = requests(settings, count, 0.0)
    start = time.perf_counter()
    outcomes = run_batch(settings, prepared, workers)
    assert {o.status for o in outcomes} == {"COMPLETED"}, outcomes
    return time.perf_counter() - start


def _claimer(settings: Settings, batch: str, results, find_and_modify: bool, server_pid: int) -> None:
    store = db.connect(settings)
    claimer = queue.Claimer(store, queue.Selector(batch=batch), queue.CodeVersion(None, None))
    claim = functools.partial(_find_and_modify_claim, store.runs, claimer.query) if find_and_modify else claimer.claim
    latencies, writes = [], []
    server = psutil.Process(server_pid)
    cpu_first = server_cpu_s(server)
    while True:
        start = time.perf_counter()
        claimed = claim()
        if claimed is None:
            break
        latencies.append(time.perf_counter() - start)
        stop = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        start = time.perf_counter()
        store.runs.update_one({"_id": claimed["_id"]}, {"$set": {"status": "COMPLETED", "stop_time": stop}})
        writes.append(time.perf_counter() - start)
    results.put((latencies, writes, (cpu_first, server_cpu_s(server))))


def _writer(settings: Settings, ids: list[int], results, server_pid: int) -> None:
    runs = db.connect(settings).runs
    latencies = []
    server = psutil.Process(server_pid)
    cpu_first = server_cpu_s(server)
    for run_id in ids:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        start = time.perf_counter()
        runs.update_one({"_id": run_id, "status": "QUEUED"}, {"$set": {"status": "RUNNING", "heartbeat": now}})
        latencies.append(time.perf_counter() - start)
    results.put((latencies, (cpu_first, server_cpu_s(server))))


def server_cpu_s(server: psutil.Process) -> float:
    """CPU seconds the database server's process has used so far, all its threads."""
    times = server.cpu_times()
    return times.user + times.system


def _server_cpu_per_op(spans: list[tuple[float, float]], operations: int) -> float:
    """The server's CPU seconds per operation, from the first process's first operation to the last one's end
    (``spans``: each process's server CPU reading before its first and after its last)."""
    return (max(end for _, end in spans) - min(start for start, _ in spans)) / operations


def write_latencies(settings: Settings, processes: int, server_pid: int) -> tuple[list[float], float]:
    """The floor of a claim: ``processes`` processes each making 50 conditional writes by id back to back (the
    claim's own write, QUEUED→RUNNING, with tunelab's indexes and a synced commit each, and no read).
    Returns the latencies and the server's CPU seconds per write meanwhile."""
    settings = fresh(settings)
    database = db.connect(settings)
    ensure_indexes(database)
    count = processes * CLAIMS_PER_PROCESS
    database.runs.insert_many(
        [{"_id": i, "status": "QUEUED", "queue": {"key": f"k{i}#0"}} for i in range(1, count + 1)]
    )
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    ids = list(range(1, count + 1))
    workers = [
        context.Process(target=_writer, args=(settings, ids[i::processes], results, server_pid))
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    latencies, spans = [], []
    for _ in workers:
        writes, span = results.get()
        latencies += writes
        spans.append(span)
    for worker in workers:
        worker.join()
    return latencies, _server_cpu_per_op(spans, count)


def _find_and_modify_claim(runs, query: dict) -> dict | None:
    """The claim before this benchmark's issue was closed, less its check for the config's other runs."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    update = {"$set": {"status": "RUNNING", "heartbeat": now}, "$inc": {"queue.attempts": 1}}
    return runs.find_one_and_update(query, update, sort=[("_id", 1)], return_document=pymongo.ReturnDocument.AFTER)


def claim_latencies(
    settings: Settings, processes: int, server_pid: int, find_and_modify: bool = False
) -> tuple[list[float], list[float], float]:
    """Every claim's latency while ``processes`` processes empty a queue of 50 runs each, the
    latency of the plain write (``update_one`` by id) each then makes: the floor of one round trip,
    and the server's CPU seconds per claim meanwhile (the claim and that write).
    ``find_and_modify``: claim with one ``find_one_and_update``, as before the claims were reworked."""
    settings = fresh(settings)
    batch = "claims"
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    entry = {"batch": batch, "experiment": "spin", "queued_at": now, "attempts": 0, "git_commit": None}
    docs = [
        {"_id": i, "status": "QUEUED", "queue": {**entry, "key": f"k{i}#0", "data_version": None}}
        for i in range(1, processes * CLAIMS_PER_PROCESS + 1)
    ]
    db.connect(settings).runs.insert_many(docs)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [
        context.Process(target=_claimer, args=(settings, batch, results, find_and_modify, server_pid))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    latencies, writes, spans = [], [], []
    for _ in workers:
        claims, updates, span = results.get()
        latencies += claims
        writes += updates
        spans.append(span)
    for worker in workers:
        worker.join()
    assert len(latencies) == len(docs)
    return latencies, writes, _server_cpu_per_op(spans, len(docs))


def _spin(cpu_s: float) -> None:
    end = time.process_time() + cpu_s
    while time.process_time() < end:
        pass


def _busy_wall(count: int, cpu_s: float, processes: int) -> float:
    """Seconds for ``processes`` processes to burn ``count`` × ``cpu_s`` of CPU: what this machine
    gives to parallel work now (other people's load included)."""
    with multiprocessing.get_context("forkserver").Pool(processes) as pool:
        pool.map(_spin, [0.0] * processes)  # started
        start = time.perf_counter()
        pool.map(_spin, [cpu_s] * count, chunksize=1)
        return time.perf_counter() - start


def _import_s() -> float:
    """Seconds a fresh interpreter takes to import what the worker pools' forkserver preloads."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import tunelab.tracking.batch"], check=True, env=os.environ)
    return time.perf_counter() - start


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def _each(statistic: Callable[[list[float]], float], samples: list[list[float]]) -> list[float]:
    return [statistic(s) for s in samples]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cpu-runs", type=int, default=8)
    parser.add_argument("--cpu-s", type=float, default=1.0)
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    reps = range(args.repetitions)

    root = Path(tempfile.mkdtemp(prefix="tunelab-bench-queue-"))
    server = EmbeddedServer(root / "db", free_port())
    server.start()
    try:
        os.environ.update(
            TUNELAB_PROJECT_DIR=str(make_project(root)),
            TUNELAB_STATE_DIR=str(root / "state"),
            TUNELAB_MONGO_URL=server.url,
        )
        settings = load_settings()
        rows = []
        for workers in (1, 2, 4):
            queued = [queue_wall(settings, args.runs, 0.0, workers) for _ in reps]
            handed = [batch_wall(settings, args.runs, workers) for _ in reps]
            rows.append(
                (f"{args.runs} trivial runs, queue, {workers} worker(s)", queued, handed, "batch, no queue", "")
            )
        server_pid = server.status().pid
        alone = [claim_latencies(settings, 1, server_pid) for _ in reps]
        together = [claim_latencies(settings, 4, server_pid) for _ in reps]
        before = [claim_latencies(settings, 4, server_pid, find_and_modify=True) for _ in reps]
        floors_4 = [write_latencies(settings, 4, server_pid) for _ in reps]
        floors_1 = [write_latencies(settings, 1, server_pid) for _ in reps]
        claims, writes, claims_cpu = ([figures[i] for figures in together] for i in range(3))
        alone_claims, alone_writes, alone_cpu = ([figures[i] for figures in alone] for i in range(3))
        before_claims = [c for c, *_ in before]
        floor_4, floor_4_cpu = [f for f, _ in floors_4], [c for _, c in floors_4]
        floor_1, floor_1_cpu = [f for f, _ in floors_1], [c for _, c in floors_1]
        medians = functools.partial(_each, statistics.median)
        rows += [
            ("claim, 4 processes: median", medians(claims), medians(alone_claims), "1 process", "≤ 5 ms"),
            ("claim, 4 processes: p99", _each(p99, claims), _each(p99, alone_claims), "1 process", ""),
            ("claim, 4 processes: median", medians(claims), medians(writes), "update_one by id, 4 processes", ""),
            (
                "claim, 1 process: median",
                medians(alone_claims),
                medians(alone_writes),
                "update_one by id, 1 process",
                "",
            ),
            ("claim, 4 processes: median", medians(claims), medians(before_claims), "findAndModify claim", ""),
            (
                "claim, 4 processes: median",
                medians(claims),
                medians(floor_4),
                "its write alone, 4 processes (floor)",
                "",
            ),
            ("its write alone (floor), 4 processes: median", medians(floor_4), medians(floor_1), "1 process", "≤ 5 ms"),
            ("server CPU per claim (+ its COMPLETED write), 4 processes", claims_cpu, alone_cpu, "1 process", ""),
            ("server CPU per write alone (floor), 4 processes", floor_4_cpu, floor_1_cpu, "1 process", ""),
        ]
        ceiling = [_busy_wall(args.cpu_runs, args.cpu_s, 2) for _ in reps]
        floor = [_busy_wall(args.cpu_runs, args.cpu_s, 1) for _ in reps]
        rows.append(
            (
                f"{args.cpu_runs} busy loops (no tunelab), 2 processes",
                ceiling,
                floor,
                "1 process",
                "the machine's ceiling",
            )
        )
        for start in ("cold", "warm"):
            one = [queue_wall(settings, args.cpu_runs, args.cpu_s, 1, cold=start == "cold") for _ in reps]
            two = [queue_wall(settings, args.cpu_runs, args.cpu_s, 2, cold=start == "cold") for _ in reps]
            figure = f"{args.cpu_runs} CPU-bound runs ({args.cpu_s} s), 2 workers, {start}"
            rows.append((figure, two, one, "1 worker", "≤ 0.56× (≥ 1.8× speed-up)"))
        print_table(f"run queue, median of {args.repetitions} (wall s as ms)", rows)
        for row in rows[-2:]:
            print(f"{row[0]}: {statistics.median(row[2]) / statistics.median(row[1]):.2f}× on {os.cpu_count()} cores")
        imports = statistics.median(_import_s() for _ in reps)
        warm_one, warm_two = statistics.median(rows[-1][2]), statistics.median(rows[-1][1])
        print(
            f"cold ceiling: the forkserver's import of tunelab takes {imports:.2f} s (a fresh interpreter), paid once "
            f"before any worker starts, with 1 worker as with 2; added to the warm walls it allows at most "
            f"{(warm_one + imports) / (warm_two + imports):.2f}× cold"
        )
        print(
            f"claim floor: a claim is one synced conditional write by id plus one indexed read; that write alone "
            f"takes {statistics.median(medians(floor_4)) * 1e3:.1f} ms (median) with 4 processes writing at once "
            f"and {statistics.median(medians(floor_1)) * 1e3:.1f} ms with 1: the server commits one write at a time "
            "(one storage lock, --sync-on-commit), so no claim can beat the first figure"
        )
        cycle_cpu = statistics.median(claims_cpu)
        cycle_wall = statistics.median(medians(claims)) + statistics.median(medians(writes))
        print(
            f"server CPU: a claim and the COMPLETED write after it cost the server {cycle_cpu * 1e3:.1f} ms of CPU "
            f"with 4 processes ({statistics.median(alone_cpu) * 1e3:.1f} ms with 1), the claim's write alone "
            f"{statistics.median(floor_4_cpu) * 1e3:.1f} ms ({statistics.median(floor_1_cpu) * 1e3:.1f} ms with 1). "
            "The server applies requests in Python one at a time (one interpreter lock; a collection's lock is held "
            f"across each synced commit, so commits never share an fsync): 4 processes claiming back to back need "
            f"4 × {cycle_cpu * 1e3:.1f} = {4 * cycle_cpu * 1e3:.1f} ms of its CPU per round, and each process's "
            f"claim and write took {cycle_wall * 1e3:.1f} ms (medians): they wait for the server, not for the client"
        )
        for workers, row in zip((1, 2, 4), rows[:3], strict=True):
            print(
                f"throughput, {workers} worker(s): {args.runs / statistics.median(row[1]):.1f} runs/s queued, "
                f"{args.runs / statistics.median(row[2]):.1f} runs/s batch without queue"
            )
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
