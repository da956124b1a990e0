"""The run queue against the real database: enqueue, workers in separate processes, lost workers, other code."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pymongo
import pytest

from tests.conftest import TEST_PROJECT
from tests.tracking_tests.test_batch import _configs
from tunelab import db
from tunelab.tracking import liveness, queue
from tunelab.tracking.runner import prepare_run


def test_two_concurrent_batches_run_each_config_once(test_project_env, tmp_path):
    configs = _configs(tmp_path, "curve", [{"x": x / 10, "steps": 3, "sleep_s": 0.1} for x in range(4)])
    batches = [test_project_env.popen("batch", *configs, project=TEST_PROJECT) for _ in range(2)]
    for process in batches:
        _, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, stderr
    runs = list(test_project_env.database.runs.find())
    assert sorted(r["config"]["x"] for r in runs) == [0.0, 0.1, 0.2, 0.3]
    assert {r["status"] for r in runs} == {"COMPLETED"}


def test_a_queued_run_is_inserted_with_its_queue_entry(test_project_env, monkeypatch):
    """Read back as its insert returns, before any other write could land: enqueuers and claimers find a run
    by ``queue.key``, so a QUEUED document without it (until a second write) would let two batches run it."""
    runs = test_project_env.database.runs
    as_inserted = []
    insert_one = pymongo.collection.Collection.insert_one

    def insert_and_read_back(collection, document, *args, **kwargs):
        result = insert_one(collection, document, *args, **kwargs)
        if collection.name == "runs":
            as_inserted.append(runs.find_one({"_id": document["_id"]}))  # the observer inserts RawBSONDocuments
        return result

    monkeypatch.setattr(pymongo.collection.Collection, "insert_one", insert_and_read_back)
    settings = test_project_env.settings
    request = prepare_run(settings, "curve", TEST_PROJECT / "configs" / "curve.json", ["x=0.3"])
    version = queue.code_version(settings)
    [run_id] = queue.enqueue(settings, db.connect(settings), [request], "b1", version)
    [doc] = as_inserted
    assert doc["_id"] == run_id and doc["status"] == "QUEUED" and doc["config"]["x"] == 0.3  # Sacred's part
    entry = doc["queue"]
    assert entry["key"] == f"{request.key}#0" and entry["batch"] == "b1" and entry["experiment"] == "curve"
    assert entry["config"] == dict(request.config) and entry["attempts"] == 0
    assert (entry["git_commit"], entry["data_version"]) == (version.git_commit, version.data_version)
    assert doc["info"] == entry["info"] == {"batch_key": request.key, "batch": "b1"}
    assert runs.find_one({"_id": run_id}) == doc  # no second write
    assert queue.enqueue(settings, db.connect(settings), [request], "b2", version) == [None]  # it is busy


def test_nothing_to_do_and_unknown_batch(test_project_env):
    idle = test_project_env.cli("worker", project=TEST_PROJECT)
    assert idle.returncode == 0 and idle.stdout.strip() == "queue empty: nothing to run"
    for args in (
        ("worker", "--batch", "nope"),
        ("queue", "list", "--batch", "nope"),
        ("queue", "cancel", "--batch", "nope"),
    ):
        result = test_project_env.cli(*args, project=TEST_PROJECT)
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == "error: unknown batch id 'nope' (latest: none)"


@pytest.mark.slow
def test_twenty_queued_runs_three_workers_each_run_once(test_project_env, tmp_path):
    configs = _configs(tmp_path, "curve", [{"x": x / 100, "steps": 3, "sleep_s": 0.15} for x in range(20)])
    enqueued = test_project_env.cli("batch", *configs, "--enqueue", project=TEST_PROJECT)
    assert enqueued.returncode == 0, enqueued.stderr
    runs = test_project_env.database.runs
    queued = list(runs.find())
    assert len(queued) == 20 and {r["status"] for r in queued} == {"QUEUED"}
    first = queued[0]
    assert first["meta"]["queue_time"] and first["command"] == "run" and first["config"]["steps"] == 3  # Sacred's shape
    version = queue.code_version(test_project_env.settings)
    assert first["queue"]["git_commit"] == version.git_commit and len(version.git_commit) == 40
    assert first["queue"]["experiment"] == "curve" and first["queue"]["config"]["x"] == 0.0
    batch = first["queue"]["batch"]
    assert f"batch {batch}" in enqueued.stdout

    workers = [
        test_project_env.popen(
            "worker", "--batch", batch, project=TEST_PROJECT, env={"TUNELAB_STATE_DIR": str(tmp_path / f"machine{i}")}
        )
        for i in range(3)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=300)
        assert worker.returncode == 0, stderr
    done = list(runs.find())
    assert sorted(r["_id"] for r in done) == sorted(r["_id"] for r in queued)  # the queued ids became the runs
    assert {r["status"] for r in done} == {"COMPLETED"}
    assert sorted(r["config"]["x"] for r in done) == [x / 100 for x in range(20)]
    assert all(r["queue"]["attempts"] == 1 and r["result"] == r["config"]["x"] for r in done)
    assert len({r["queue"]["claim"]["pid"] for r in done}) == 3  # spread over the three workers

    listed = test_project_env.cli("queue", "list", "--batch", batch, project=TEST_PROJECT)
    assert listed.returncode == 0 and batch in listed.stdout
    [row] = [line for line in listed.stdout.splitlines() if batch in line]
    assert [cell.strip() for cell in row.split("│")][2:7] == ["0", "0", "", "20", "0"]
    idle = test_project_env.cli("worker", "--batch", batch, project=TEST_PROJECT)
    assert idle.returncode == 0 and f"queue empty: nothing to run in batch {batch}" in idle.stdout


@pytest.mark.slow
def test_kill_9_of_a_worker_requeues_its_run_once_the_heartbeat_expires(test_project_env, tmp_path):
    settings = {"TUNELAB_QUEUE_EXPIRY_S": "2", "TUNELAB_QUEUE_RETRIES": "1"}
    configs = _configs(tmp_path, "slow", [{"steps": 40, "sleep_s": 0.1}])
    assert test_project_env.cli("batch", *configs, "--enqueue", project=TEST_PROJECT).returncode == 0
    runs = test_project_env.database.runs
    worker = test_project_env.popen("worker", project=TEST_PROJECT, env=settings)
    deadline = time.monotonic() + 60
    while not runs.find_one({"status": "RUNNING", "heartbeat": {"$ne": None}}) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(worker.pid, signal.SIGKILL)  # the worker and its run die with no goodbye
    worker.wait()
    [lost] = list(runs.find())
    assert lost["status"] == "RUNNING"

    time.sleep(2.5)  # the heartbeat expires
    retry = test_project_env.popen("worker", project=TEST_PROJECT, env=settings)
    stdout, stderr = retry.communicate(timeout=120)
    assert retry.returncode == 0, stderr
    [run] = list(runs.find())
    assert run["_id"] == lost["_id"] and run["status"] == "COMPLETED" and run["result"] == 40
    assert run["queue"]["attempts"] == 2 and "lost worker" in run["queue"]["lost"][0]
    metric = test_project_env.database.metrics.find_one({"run_id": run["_id"]})
    assert metric["steps"] == list(range(40))  # the lost attempt's points were dropped


def _claimed(database, pid, pid_started, attempts):
    """A RUNNING queued run claimed by ``pid``, silent for a minute."""
    stale = queue._now() - queue.dt.timedelta(seconds=60)
    claim = {"host": queue.socket.gethostname(), "pid": pid, "pid_started": pid_started, "at": stale}
    entry = {"batch": "b", "key": "k", "info": {}, "attempts": attempts, "claim": claim}
    return database.runs.insert_one({"status": "RUNNING", "heartbeat": stale, "queue": entry}).inserted_id


def test_a_lost_run_past_its_retries_fails_and_a_live_one_is_left_alone(test_project_env):
    database = test_project_env.database
    dead = subprocess.Popen(["true"])
    dead.wait()
    lost = _claimed(database, dead.pid, time.time() - 5, attempts=2)
    me = queue.psutil.Process()
    alive = _claimed(database, me.pid, me.create_time(), attempts=1)
    assert queue.release_lost_claims(database, expiry_s=5, retries=1) == ([], [lost])
    failed = database.runs.find_one({"_id": lost})
    assert failed["status"] == "FAILED" and failed["fail_trace"][0].startswith("lost worker:")
    assert database.runs.find_one({"_id": alive})["status"] == "RUNNING"  # its process lives: never run twice


@pytest.mark.slow
def test_a_worker_on_another_commit_refuses_the_run(test_project_env, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(TEST_PROJECT, project)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(project)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    assert test_project_env.cli("batch", "configs/slow.json", "--enqueue", project=project).returncode == 0
    (project / "experiments" / "slow.py").write_text((project / "experiments" / "slow.py").read_text() + "\n")
    subprocess.run([*git, "commit", "-qam", "two"], check=True)

    refused = test_project_env.cli("worker", project=project)
    assert refused.returncode == 1
    assert refused.stderr.strip().startswith("refused 1 queued run(s) enqueued at commit ")
    assert "--any-commit" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert test_project_env.database.runs.find_one()["status"] == "QUEUED"
    anyway = test_project_env.cli("worker", "--any-commit", project=project)
    assert anyway.returncode == 0, anyway.stderr
    assert test_project_env.database.runs.find_one()["status"] == "COMPLETED"


def test_a_queued_run_that_cannot_start_here_fails_once(test_project_env):
    assert test_project_env.cli("batch", "configs/curve.json", "--enqueue", project=TEST_PROJECT).returncode == 0
    runs = test_project_env.database.runs
    runs.update_one({}, {"$set": {"queue.config.x": 5.0}})  # as if this checkout's schema had changed
    result = test_project_env.cli("worker", project=TEST_PROJECT)
    assert result.returncode == 1 and "FAILED" in result.stdout
    [run] = list(runs.find())
    assert run["status"] == "FAILED" and "x" in run["fail_trace"][0] and run["queue"]["attempts"] == 1


def test_two_claimers_with_stale_candidates_take_each_run_once(test_project_env):
    runs = test_project_env.database.runs
    entry = {"batch": "b", "experiment": "curve", "queued_at": queue._now(), "attempts": 0, "git_commit": None}
    runs.insert_many(
        [{"_id": i, "status": "QUEUED", "queue": {**entry, "key": f"k{i}#0", "data_version": None}} for i in range(12)]
    )
    selector, version = queue.Selector(batch="b"), queue.CodeVersion(None, None)
    claimers = {index: queue.Claimer(test_project_env.database, selector, version) for index in (0, 1)}
    taken: dict[int, list[int]] = {0: [], 1: []}
    while claimers:
        for index, claimer in list(claimers.items()):
            doc = claimer.claim()  # each keeps the candidates it read first, which the other claims from under it
            if doc is None:
                del claimers[index]
            else:
                taken[index].append(doc["_id"])
    assert sorted(taken[0] + taken[1]) == list(range(12)) and taken[0] and taken[1]
    assert {(r["status"], r["queue"]["attempts"]) for r in runs.find()} == {("RUNNING", 1)}


def test_a_config_two_enqueues_found_free_is_queued_once(test_project_env):
    """Two enqueues that both found a config free (their reads came before either insert): the database
    refuses the second QUEUED run of that key, whichever id it has, also once the first is claimed."""
    settings, database = test_project_env.settings, test_project_env.database
    request = prepare_run(settings, "curve", TEST_PROJECT / "configs" / "curve.json", ["x=0.4"])
    version = queue.code_version(settings)
    key = f"{request.key}#0"
    first = queue._enqueue_one(settings, request, key, "b", version)
    assert queue._enqueue_one(settings, request, key, "a", version) is None  # a's read found it free too
    claimed = queue.Claimer(database, queue.Selector(batch="b"), version).claim()
    assert claimed["_id"] == first
    assert queue._enqueue_one(settings, request, key, "a", version) is None  # RUNNING counts too
    late = {"_id": 1, "status": "QUEUED", "queue": {**claimed["queue"], "batch": "a"}}  # an id from an older block
    with pytest.raises(pymongo.errors.DuplicateKeyError):
        database.runs.insert_one(late)
    assert [r["_id"] for r in database.runs.find({"queue.key": key})] == [first]


def test_on_a_database_holding_two_active_runs_of_a_config_claims_run_it_once(test_project_env, caplog):
    """Queued by an older tunelab: the unique index cannot be made, and claims fall back to reading the key."""
    database, version = test_project_env.database.client["tunelab_before_the_index"], queue.CodeVersion(None, None)
    entry = {"key": "k#0", "batch": "b", "experiment": "curve", "queued_at": queue._now(), "attempts": 0}
    database.runs.insert_many(
        [{"_id": i, "status": "QUEUED", "queue": {**entry, "git_commit": None, "data_version": None}} for i in (7, 3)]
    )
    claimer = queue.Claimer(database, queue.Selector(batch="b"), version)
    assert "two active queued runs share a config key" in caplog.text
    claimed = [claimer.claim(), claimer.claim()]
    assert [doc["_id"] for doc in claimed if doc is not None] == [3]  # the smallest id runs; 7 is deleted
    assert [r["_id"] for r in database.runs.find()] == [3]


def test_the_sweep_judges_a_claimed_run_by_its_claim(test_project_env):
    dead = subprocess.Popen(["true"])
    dead.wait()
    lost = _claimed(test_project_env.database, dead.pid, time.time() - 5, attempts=1)  # Sacred never started it
    report = liveness.sweep(test_project_env.database)
    assert report.failed[lost].startswith(f"process {dead.pid} on ")


def test_enqueuing_configs_already_queued_queues_and_counts_only_the_others(test_project_env, tmp_path):
    configs = _configs(tmp_path, "curve", [{"x": x / 10, "steps": 1, "sleep_s": 0.0} for x in range(2)])
    assert test_project_env.cli("batch", configs[0], "--enqueue", project=TEST_PROJECT).returncode == 0
    again = test_project_env.cli("batch", *configs, "--enqueue", project=TEST_PROJECT)
    assert again.returncode == 0 and "queued 1 run(s)" in again.stdout, again.stdout
    assert "1 config(s) already queued or running: not queued again" in again.stderr
    assert test_project_env.database.runs.count_documents({"status": "QUEUED"}) == 2
