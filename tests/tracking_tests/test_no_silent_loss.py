"""Nothing acknowledged is lost: big output, long metrics, final saves that failed, dead runs."""

from __future__ import annotations

import datetime as dt
import subprocess

import bson
import gridfs
import pymongo
import pytest

from tests.conftest import TEST_PROJECT
from tunelab.dashboards.runs import metric_curves
from tunelab.tracking import liveness, metric_store, run_ids
from tunelab.tracking.observers import OUTPUT_ARTIFACT, OUTPUT_HEAD, OUTPUT_TAIL
from tunelab.tracking.runner import execute, prepare_run

LIMIT = 16 * 1024 * 1024


@pytest.mark.slow
def test_20_mb_of_output_keeps_head_and_tail_and_the_whole_as_artifact(test_project_env):
    settings, database = test_project_env.settings, test_project_env.database
    outcome = execute(settings, prepare_run(settings, "big", assignments=["output_mb=20"]))
    run = database.runs.find_one({"_id": outcome.run_id})
    assert outcome.status == run["status"] == "COMPLETED"
    out = run["captured_out"]
    assert out.startswith("first line\n") and out.rstrip().endswith("last line")
    assert len(out) < OUTPUT_HEAD + OUTPUT_TAIL + 1000 and OUTPUT_ARTIFACT in out
    (artifact,) = [a for a in run["artifacts"] if a["name"] == OUTPUT_ARTIFACT]
    whole = gridfs.GridFS(database).get(artifact["file_id"]).read().decode()
    assert len(whole) > 20_000_000 and whole.startswith("first line\n") and whole.rstrip().endswith("last line")
    assert not list(settings.failed_saves_dir.glob("*"))


@pytest.mark.slow
def test_500000_metric_points_are_stored_whole(test_project_env):
    settings, database = test_project_env.settings, test_project_env.database
    outcome = execute(settings, prepare_run(settings, "big", assignments=["points=500000"]))
    assert outcome.status == database.runs.find_one({"_id": outcome.run_id})["status"] == "COMPLETED"
    head = database.metrics.find_one({"run_id": outcome.run_id, "name": "loss"})
    assert len(bson.encode(head)) < LIMIT and len(head["values"]) == metric_store.HEAD_POINTS
    series = metric_store.read_series(database, [outcome.run_id])[(outcome.run_id, "loss")]
    assert series["steps"] == list(range(500_000))
    assert series["values"][-1] == pytest.approx(1 / 500_000)
    curve = metric_curves(database, [outcome.run_id])[outcome.run_id]["loss"]
    assert curve.steps[0] == 0 and curve.steps[-1] == 499_999  # the dashboards see the tail too


def test_a_failed_final_save_lands_or_marks_the_run_failed(test_project_env):
    settings, database = test_project_env.settings, test_project_env.database
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for run_id in (1, 2):
        database.runs.insert_one(_run(run_id, now, now))
    ok = {**_run(1, now, now), "status": "COMPLETED", "result": 0.5}
    too_large = {**_run(2, now, now), "status": "COMPLETED", "captured_out": "x" * (LIMIT + 1)}
    liveness.keep_failed_save(settings.failed_saves_dir, database, ok, "AutoReconnect: gone")
    liveness.keep_failed_save(settings.failed_saves_dir, database, too_large, "DocumentTooLarge")

    result = test_project_env.cli("runs", "--sweep", project=TEST_PROJECT)
    assert result.returncode == 0, result.stderr
    assert database.runs.find_one({"_id": 1})["status"] == "COMPLETED"
    failed = database.runs.find_one({"_id": 2})
    assert failed["status"] == "FAILED" and "cannot land" in failed["fail_trace"][0]
    assert [p.suffix for p in settings.failed_saves_dir.iterdir()] == [".failed"]
    assert "run 2: FAILED" in result.stdout


def test_sweep_fails_a_run_whose_process_is_gone_and_spares_a_live_one(test_project_env):
    database = test_project_env.database
    dead = subprocess.Popen(["true"])
    dead.wait()
    old = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=60)
    host = liveness.socket.gethostname()
    database.runs.insert_many(
        [
            _run(1, old, old, {"hostname": host, "pid": dead.pid}),
            _run(2, old, old, {"hostname": host, "pid": 1}),
            _run(3, old, None, {"hostname": "elsewhere"}),
        ]
    )
    result = test_project_env.cli("runs", "--sweep", project=TEST_PROJECT)
    assert result.returncode == 0, result.stderr
    assert database.runs.find_one({"_id": 1})["fail_trace"][0].startswith(f"process {dead.pid} on {host} is gone")
    assert database.runs.find_one({"_id": 2})["status"] == "RUNNING"  # pid 1 lives (and predates the run)
    assert database.runs.find_one({"_id": 3})["fail_trace"][0].startswith("no heartbeat for")


def _run(run_id: int, start: dt.datetime, heartbeat: dt.datetime | None, host: dict | None = None) -> dict:
    """A RUNNING run document as the observer writes it (the fields the sweep and `tunelab runs` read)."""
    doc = {"_id": run_id, "experiment": {"name": "slow"}, "status": "RUNNING", "start_time": start}
    return {**doc, "heartbeat": heartbeat, "host": host or {"hostname": "another-machine", "pid": 1}}


def test_values_read_back_from_the_database_are_checked(test_project_env):
    from tunelab.errors import TunelabError
    from tunelab.tracking.registry import load_experiment
    from tunelab.versioning.repro import load_origin

    database, settings = test_project_env.database, test_project_env.settings
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    base = {**_run(1, now, now), "status": "COMPLETED", "config": {}, "stop_time": now}
    database.runs.insert_many(
        [
            {**base, "_id": 1, "info": {"git_commit": "--upload-pack=x"}},
            {**base, "_id": 2, "info": {"data_path": "../../etc/passwd"}},
            {**base, "_id": 3, "experiment": {"name": "../../tmp/evil"}},
        ]
    )
    with pytest.raises(TunelabError, match="is not a git commit"):
        load_origin(settings, 1)
    with pytest.raises(TunelabError, match="is not a path inside the project"):
        load_origin(settings, 2)
    with pytest.raises(TunelabError, match="an experiment name is a Python identifier"):
        load_experiment(settings.experiments_dir, load_origin(settings, 3).experiment)


def _slow_configs(tmp_path, count: int) -> list[str]:
    import json

    paths = []
    for seed in range(1, count + 1):
        path = tmp_path / f"slow_{seed}.json"
        path.write_text(json.dumps({"steps": 15, "sleep_s": 0.2, "seed": seed}))
        paths.append(str(path))
    return paths


def _kill_a_started_run(runs) -> int:
    """Wait for a run Sacred started (claimed from the queue), kill its process as the OOM killer does; its id."""
    import os
    import signal
    import time

    from tunelab.processes import wait_until

    started = {"status": "RUNNING", "host.pid": {"$exists": True}}
    assert wait_until(lambda: runs.find_one(started) is not None, 60)
    time.sleep(0.5)
    victim = runs.find_one(started)
    os.kill(victim["host"]["pid"], signal.SIGKILL)
    return victim["_id"]


@pytest.mark.slow
def test_a_batch_worker_killed_by_sigkill_fails_its_run_without_a_traceback(test_project_env, tmp_path):
    """With no retries left, the killed worker's run is FAILED with the reason, and the batch exits 1."""
    env = {"TUNELAB_QUEUE_RETRIES": "0"}
    batch = test_project_env.popen("batch", *_slow_configs(tmp_path, 1), project=TEST_PROJECT, env=env)
    runs = test_project_env.database.runs
    victim = _kill_a_started_run(runs)
    _, stderr = batch.communicate(timeout=60)
    assert batch.returncode == 1 and "Traceback" not in stderr
    (run,) = runs.find()
    assert run["_id"] == victim and run["status"] == "FAILED" and "is gone" in run["fail_trace"][0]


@pytest.mark.slow
def test_a_killed_batch_worker_costs_only_its_own_run_which_is_retried(test_project_env, tmp_path):
    """Of 2 workers, one is killed mid-run: the other's run goes on untouched, the killed run goes back to the
    queue (retries: 1) and a new worker process runs it, and the batch finishes every config."""
    batch = test_project_env.popen("batch", *_slow_configs(tmp_path, 3), "--workers", "2", project=TEST_PROJECT)
    runs = test_project_env.database.runs
    victim = _kill_a_started_run(runs)
    _, stderr = batch.communicate(timeout=120)
    assert batch.returncode == 0, stderr
    assert [r["status"] for r in runs.find()] == ["COMPLETED"] * 3
    killed = runs.find_one({"_id": victim})
    assert killed["queue"]["attempts"] == 2 and "is gone" in killed["queue"]["lost"][0]
    assert all(r["queue"]["attempts"] == 1 for r in runs.find({"_id": {"$ne": victim}}))


@pytest.mark.slow
def test_a_run_outlives_its_database_going_away_for_longer_than_pymongo_waits(test_project_env, tmp_path):
    """Sacred drops an observer after its first exception: none may escape tunelab's for a database outage."""
    import sys
    import time

    from tests.conftest import free_port
    from tunelab.db import EmbeddedServer
    from tunelab.processes import wait_until

    server = EmbeddedServer(tmp_path / "mongo", free_port())
    server.start()
    try:
        env = {**test_project_env.env, "TUNELAB_MONGO_URL": server.url, "TUNELAB_PROJECT_DIR": str(TEST_PROJECT)}
        command = ["run", "slow", "--set", "steps=40", "--set", "sleep_s=0.5"]
        run = subprocess.Popen(
            [sys.executable, "-m", "tunelab", *command], cwd=TEST_PROJECT, env=env, stderr=subprocess.PIPE, text=True
        )
        runs = pymongo.MongoClient(server.url)[test_project_env.settings.db_name].runs
        assert wait_until(lambda: runs.find_one({"heartbeat": {"$ne": None}}) is not None, 60)
        server.stop()
        time.sleep(8)  # longer than the client's 5 s server selection timeout
        server.start()
        _, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr
        assert "retried at the next heartbeat" in stderr  # the outage hit the run
        (stored,) = runs.find()
        assert stored["status"] == "COMPLETED", stored.get("fail_trace")
        assert stored["info"]["summary"]["value"]["steps"] == 40
        (metric,) = runs.database.metrics.find({"run_id": stored["_id"]})
        assert metric["steps"] == list(range(40))
        assert stored["captured_out"].count("done") == 40
    finally:
        server.stop()


DIES_BEFORE_ITS_FINAL_SAVE_LANDS = """
import os
from tunelab.settings import load_settings
from tunelab.tracking import observers
from tunelab.tracking.runner import execute, prepare_run

observers.TunelabMongoObserver._land = lambda self, *args: os._exit(9)  # killed in the window
settings = load_settings()
with observers.final_saves_in_background():
    execute(settings, prepare_run(settings, "slow"))
"""


def test_a_search_process_killed_before_a_final_save_lands_leaves_it_on_disk_for_the_next(test_project_env):
    """A search's runs land their end in the background (the study is told meanwhile), from a copy on disk."""
    import sys

    from tunelab.tracking.observers import mongo_observer

    settings, runs = test_project_env.settings, test_project_env.database.runs
    killed = subprocess.run([sys.executable, "-c", DIES_BEFORE_ITS_FINAL_SAVE_LANDS], env=test_project_env.env)
    assert killed.returncode == 9
    (run,) = runs.find()
    assert run["status"] == "RUNNING"
    assert len(list(settings.failed_saves_dir.glob("*.pickle"))) == 1

    mongo_observer(settings)  # the next process's first run lands it
    run = runs.find_one()
    assert run["status"] == "COMPLETED" and run["result"] is not None
    assert not list(settings.failed_saves_dir.iterdir())


def test_a_kept_save_of_a_run_never_inserted_lands_and_never_over_a_stock_sacred_run(
    test_project_env, mongo_url, monkeypatch
):
    """A short run is inserted by its final save: the copy its killed process kept may find no run under its
    id, or a stock Sacred run, which is left alone while the copy lands under a new id."""
    from tests.tracking_tests.test_run_ids import _stock_sacred_run

    settings, database = test_project_env.settings, test_project_env.database
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    monkeypatch.setattr(liveness, "_this_process", lambda: {"pid": 2**22 + 1, "started": now})  # a dead process
    stock_id = _stock_sacred_run(mongo_url, settings.db_name)
    took_its_id = {**_run(stock_id, now, now), "status": "COMPLETED", "result": 0.5}
    never_inserted = {**_run(stock_id + 1, now, now), "status": "COMPLETED", "result": 0.7}
    for entry in (took_its_id, never_inserted):
        liveness.keep_failed_save(settings.failed_saves_dir, database, entry, liveness.IN_FLIGHT_REASON)
    database[run_ids.COUNTERS].insert_one({"_id": "runs", "seq": stock_id + 5})  # ids a live process reserved

    landed, failed = liveness.recover_failed_saves(database, settings.failed_saves_dir)
    assert failed == {} and landed == [stock_id + 6, stock_id + 1]
    assert database.runs.find_one({"_id": stock_id})["experiment"]["name"] == "stock"
    assert database.runs.find_one({"_id": stock_id + 6})["result"] == 0.5
    assert database.runs.find_one({"_id": stock_id + 1})["result"] == 0.7
    assert not list(settings.failed_saves_dir.iterdir())


def test_a_final_save_with_no_room_for_its_copy_on_disk_is_made_at_once(test_project_env, monkeypatch):
    from tunelab.tracking import observers

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(liveness, "keep_failed_save", full_disk)
    settings = test_project_env.settings
    with observers.final_saves_in_background():
        outcome = execute(settings, prepare_run(settings, "slow"))
        assert test_project_env.database.runs.find_one({"_id": outcome.run_id})["status"] == "COMPLETED"


def test_a_copy_of_a_save_in_flight_is_left_to_its_live_process_and_never_lands_over_a_verdict(
    test_project_env, monkeypatch
):
    settings, database = test_project_env.settings, test_project_env.database
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for run_id in (1, 2):
        database.runs.insert_one(_run(run_id, now, now))
    done = {**_run(1, now, now), "status": "COMPLETED", "result": 0.5}
    liveness.keep_failed_save(settings.failed_saves_dir, database, done, liveness.IN_FLIGHT_REASON)
    assert liveness.recover_failed_saves(database, settings.failed_saves_dir) == ([], {})  # this process lands it
    assert database.runs.find_one({"_id": 1})["status"] == "RUNNING"

    monkeypatch.setattr(liveness, "_this_process", lambda: {"pid": 2**22 + 1, "started": now})  # a dead process
    liveness.fail_runs(database.runs, {2: "its worker died; the trial is retried"})
    judged = {**_run(2, now, now), "status": "COMPLETED", "result": 0.7}
    liveness.keep_failed_save(settings.failed_saves_dir, database, judged, liveness.IN_FLIGHT_REASON)
    assert liveness.recover_failed_saves(database, settings.failed_saves_dir)[0] == []
    assert database.runs.find_one({"_id": 2})["status"] == "FAILED"
    assert len(list(settings.failed_saves_dir.iterdir())) == 1  # run 1's, still its own process's
