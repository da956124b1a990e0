"""Benchmark: chaos. ``tunelab tune`` commands killed with ``kill -9`` (and once the database) mid-study.

    .venv/bin/python bench/chaos.py [--commands 3] [--trials 10] [--repetitions 2] [--kills 5]

Starts its own SecantusDB (as tunelab does, --sync-on-commit) in a temp dir.
For each storage (the journal file, and PostgreSQL at --postgres unless it is
not reachable), each repetition runs the same study of --trials trials of the
test project's ``curve`` experiment twice, under unique study names:

* fault-free: --commands ``tunelab tune`` commands (each in its own process
  group) started together, until they are done;
* chaos: the same, but every 1–3 s a random command's process group gets
  ``kill -9`` and is started again, --kills times; in the first repetition the
  database gets ``kill -9`` once too and is started again (same port, same files).

Then ``tunelab runs --sweep``, and per storage one table: complete and expected
trials, trials whose run count is not one, runs left RUNNING, the commands not
killed that printed a traceback or failed, and wall time against the fault-free study.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import optuna  # noqa: E402
import pymongo  # noqa: E402
import sqlalchemy  # noqa: E402
from _bench import free_port  # noqa: E402
from optuna.storages import JournalStorage  # noqa: E402
from optuna.storages.journal import JournalFileBackend  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from tunelab.db import EmbeddedServer  # noqa: E402
from tunelab.processes import alive, wait_until  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1] / "tests" / "project"
DB_NAME = "chaos"


@dataclass
class Outcome:
    kills: int
    db_kills: int
    complete: int
    not_one_run: int  # trials with no run, or more than one
    running: int  # runs left RUNNING after the sweep
    tracebacks: int  # in the stderr of commands that were not killed
    wall_s: float


class Study:
    """One study run by ``commands`` tune commands, any of which can be killed and started again."""

    def __init__(self, args: argparse.Namespace, env: dict[str, str], storage: str, workdir: Path) -> None:
        self.args, self.env, self.storage = args, env, storage
        self.name = f"chaos-{uuid.uuid4().hex[:8]}"
        self.spec = workdir / f"{self.name}.json"
        self.spec.write_text(
            json.dumps(
                {
                    "experiment": "curve",
                    "study_name": self.name,
                    "metric": "score",
                    "direction": "maximize",
                    "algorithm": "random",
                    "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}, "steps": 4, "sleep_s": args.sleep},
                    "budget": {"n_trials": args.trials},
                    "seed": 0,
                }
            )
        )
        self.logs = workdir / self.name
        self.logs.mkdir()
        self.commands: list[tuple[subprocess.Popen, Path]] = []  # one per slot: the live command, its stderr
        self.started = 0

    def start(self) -> tuple[subprocess.Popen, Path]:
        self.started += 1
        log = self.logs / f"{self.started}.err"
        with open(log, "w") as stderr:
            command = subprocess.Popen(
                [sys.executable, "-m", "tunelab", "tune", str(self.spec), "--storage", self.storage],
                cwd=PROJECT,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        return command, log

    def run(self, kills: int, database: EmbeddedServer | None) -> tuple[float, int, int]:
        """Wall seconds until every command is done, the commands killed on the way, and the databases
        killed (once if ``database``)."""
        begin = time.perf_counter()
        self.commands = [self.start() for _ in range(self.args.commands)]
        killed = db_killed = 0
        database_at = random.randrange(kills) if database and kills else -1
        while killed < kills:
            time.sleep(random.uniform(1.0, 3.0))
            live = [slot for slot, (command, _) in enumerate(self.commands) if command.poll() is None]
            if not live:
                break
            if killed == database_at:
                _kill_and_restart(database)
                db_killed, database_at = 1, -1
                continue
            slot = random.choice(live)
            os.killpg(self.commands[slot][0].pid, signal.SIGKILL)
            self.commands[slot][0].wait()
            self.commands[slot] = self.start()
            killed += 1
        for command, _ in self.commands:
            command.wait(timeout=600)
        return time.perf_counter() - begin, killed, db_killed

    def outcome(self, wall_s: float, kills: int, db_kills: int, database: pymongo.database.Database) -> Outcome:
        sweep = subprocess.run(
            [sys.executable, "-m", "tunelab", "runs", "--sweep"], cwd=PROJECT, env=self.env, capture_output=True
        )
        assert sweep.returncode == 0, sweep.stderr
        study = optuna.load_study(study_name=self.name, storage=_optuna_storage(self.storage))
        runs = list(database.runs.find({"info.study": self.name}, {"info.trial": 1, "status": 1}))
        per_trial = [sum(r["info"].get("trial") == t.number for r in runs) for t in study.trials]
        survivors = [(command.returncode, log.read_text()) for command, log in self.commands]
        return Outcome(
            kills=kills,
            db_kills=db_kills,
            complete=sum(t.state.name == "COMPLETE" for t in study.trials),
            not_one_run=sum(count != 1 for count in per_trial),
            running=sum(r["status"] == "RUNNING" for r in runs),
            tracebacks=sum("Traceback" in text or code != 0 for code, text in survivors),
            wall_s=wall_s,
        )


def _optuna_storage(storage: str) -> str | JournalStorage:
    return storage if "://" in storage else JournalStorage(JournalFileBackend(storage))


def _kill_and_restart(server: EmbeddedServer) -> None:
    pid = server.status().pid
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not alive(pid), timeout=10)
    server.start()


def _storages(args: argparse.Namespace, workdir: Path) -> dict[str, str]:
    storages = {"journal": str(workdir / "journal.log")}
    try:
        with sqlalchemy.create_engine(args.postgres, connect_args={"connect_timeout": 3}).connect():
            storages["postgres"] = args.postgres
    except Exception as exc:  # noqa: BLE001 - any reason PostgreSQL cannot be used
        print(f"PostgreSQL skipped: {str(exc).splitlines()[0]}")
    return storages


def _table(storage: str, args: argparse.Namespace, rows: list[tuple[Outcome, float]]) -> Table:
    table = Table(title=f"chaos on {storage}: {args.commands} commands, {args.trials} trials a study")
    columns = ("repetition", "kill -9 (cmd/db)", "complete/expected", "trials ≠1 run", "RUNNING", "tracebacks/exit≠0")
    for column in (*columns, "wall (s)", "fault-free (s)", "ratio"):
        table.add_column(column)
    for number, (chaos, baseline) in enumerate(rows, 1):
        table.add_row(
            str(number),
            f"{chaos.kills}/{chaos.db_kills}",
            f"{chaos.complete}/{args.trials}",
            str(chaos.not_one_run),
            str(chaos.running),
            str(chaos.tracebacks),
            f"{chaos.wall_s:.1f}",
            f"{baseline:.1f}",
            f"{chaos.wall_s / baseline:.2f}×",
        )
    walls, baselines = [c.wall_s for c, _ in rows], [b for _, b in rows]
    table.add_row(
        "median / total",
        f"{sum(c.kills for c, _ in rows)}/{sum(c.db_kills for c, _ in rows)}",
        f"{sum(c.complete for c, _ in rows)}/{args.trials * len(rows)}",
        str(sum(c.not_one_run for c, _ in rows)),
        str(sum(c.running for c, _ in rows)),
        str(sum(c.tracebacks for c, _ in rows)),
        f"{statistics.median(walls):.1f} ({min(walls):.1f}–{max(walls):.1f})",
        f"{statistics.median(baselines):.1f} ({min(baselines):.1f}–{max(baselines):.1f})",
        f"{statistics.median(walls) / statistics.median(baselines):.2f}×",
    )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=3, help="tune commands per study")
    parser.add_argument("--trials", type=int, default=10, help="trials per study")
    parser.add_argument("--repetitions", type=int, default=2, help="studies per storage, with and without faults")
    parser.add_argument("--kills", type=int, default=5, help="kill -9 of a command per chaos study")
    parser.add_argument("--sleep", type=float, default=0.25, help="seconds per step of a trial (4 steps)")
    parser.add_argument("--postgres", default="postgresql+psycopg2://postgres@127.0.0.1:5432/test")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    random.seed(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = EmbeddedServer(workdir / "state", free_port())
        server.start()
        env = {
            **os.environ,
            "TUNELAB_MONGO_URL": server.url,
            "TUNELAB_DB_NAME": DB_NAME,
            "TUNELAB_STATE_DIR": str(workdir / "state"),
            "TUNELAB_PROJECT_DIR": str(PROJECT),
        }
        database = pymongo.MongoClient(server.url)[DB_NAME]
        names: list[tuple[str, str]] = []
        try:
            for storage_name, storage in _storages(args, workdir).items():
                rows = []
                for repetition in range(args.repetitions):
                    baseline = Study(args, env, storage, workdir)
                    names.append((baseline.name, storage))
                    baseline_s = baseline.run(0, None)[0]
                    chaos = Study(args, env, storage, workdir)
                    names.append((chaos.name, storage))
                    wall_s, kills, db_kills = chaos.run(args.kills, server if repetition == 0 else None)
                    rows.append((chaos.outcome(wall_s, kills, db_kills, database), baseline_s))
                Console(width=160).print(_table(storage_name, args, rows))
        finally:
            for name, storage in names:
                if storage.startswith("postgresql"):
                    optuna.delete_study(study_name=name, storage=storage)
            server.stop()


if __name__ == "__main__":
    main()
