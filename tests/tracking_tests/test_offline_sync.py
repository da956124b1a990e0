"""--offline writes a local directory; `tunelab sync` uploads it once, completely."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import gridfs
import pytest

from tests.conftest import TEST_PROJECT, TunelabEnv


def test_offline_run_then_sync_round_trip(tunelab_env):
    online_env = tunelab_env.env
    tunelab_env.env = {**online_env, "TUNELAB_MONGO_URL": "mongodb://127.0.0.1:9"}  # offline needs no database
    offline = tunelab_env.cli("run", "gradient_boosting", "--set", "n_estimators=5", "--offline")
    assert offline.returncode == 0, offline.stderr
    tunelab_env.env = online_env
    assert tunelab_env.database.runs.count_documents({}) == 0

    synced = tunelab_env.cli("sync")
    assert synced.returncode == 0, synced.stderr
    assert "1 uploaded" in synced.stdout
    run = tunelab_env.database.runs.find_one()
    assert run["status"] == "COMPLETED" and run["config"]["n_estimators"] == 5
    assert run["info"]["data_version"] and run["info"]["summary"]["train_loss"]["steps"] == 5
    metrics = {m["name"]: m for m in tunelab_env.database.metrics.find({"run_id": run["_id"]})}
    assert metrics["train_loss"]["steps"] == [1, 2, 3, 4, 5]
    assert gridfs.GridFS(tunelab_env.database).get(run["artifacts"][0]["file_id"]).read()
    assert {name for name, _ in run["experiment"]["sources"]} >= {"gradient_boosting.py"}

    again = tunelab_env.cli("sync")
    assert "0 uploaded, 1 already synced" in again.stdout
    assert tunelab_env.database.runs.count_documents({}) == 1


def _offline_runs(env: TunelabEnv, count: int) -> list[Path]:
    """``count`` finished offline runs of ``slow``: one recorded, the others its copies under new uids."""
    assert env.cli("run", "slow", "--offline", project=TEST_PROJECT).returncode == 0
    (first,) = (p for p in env.settings.offline_dir.iterdir() if p.name != "_sources")
    runs = [first]
    for number in range(2, count + 1):
        copy = shutil.copytree(first, first.parent / str(number))
        info = json.loads((copy / "info.json").read_text())
        (copy / "info.json").write_text(json.dumps({**info, "uid": f"{info['uid']}-{number}"}))
        runs.append(copy)
    return runs


def test_sync_again_after_the_marker_is_lost_uploads_nothing(test_project_env):
    _offline_runs(test_project_env, 1)
    assert test_project_env.cli("sync", project=TEST_PROJECT).returncode == 0
    (marker,) = test_project_env.settings.offline_dir.glob("*/.synced")
    marker.unlink()
    again = test_project_env.cli("sync", project=TEST_PROJECT)
    assert "0 uploaded, 1 already synced" in again.stdout, again.stdout + again.stderr
    assert test_project_env.database.runs.count_documents({}) == 1
    assert test_project_env.database.metrics.count_documents({}) == 1


@pytest.mark.slow
def test_two_syncs_at_once_upload_each_run_once(test_project_env):
    runs = _offline_runs(test_project_env, 8)
    syncs = [test_project_env.popen("sync", project=TEST_PROJECT), test_project_env.popen("sync", project=TEST_PROJECT)]
    outputs = [sync.communicate(timeout=120) for sync in syncs]
    assert [sync.returncode for sync in syncs] == [0, 0], outputs
    uids = [run["info"]["uid"] for run in test_project_env.database.runs.find()]
    assert sorted(uids) == sorted(json.loads((run / "info.json").read_text())["uid"] for run in runs)
    assert test_project_env.database.metrics.count_documents({}) == len(runs)
    assert sum(int(out.splitlines()[-1].split()[0]) for out, _ in outputs) == len(runs)  # "N uploaded, ..."


@pytest.mark.slow
def test_a_sync_killed_mid_upload_then_run_again_leaves_one_complete_run(test_project_env):
    (run_dir,) = _offline_runs(test_project_env, 1)
    run = json.loads((run_dir / "run.json").read_text())
    (run_dir / "big.bin").write_bytes(os.urandom(64 * 2**20))  # an artifact that takes a while to upload
    (run_dir / "run.json").write_text(json.dumps({**run, "artifacts": [*run["artifacts"], "big.bin"]}))
    database = test_project_env.database
    sync = test_project_env.popen("sync", project=TEST_PROJECT)
    while database.runs.count_documents({}) == 0:
        assert sync.poll() is None, sync.communicate()
        time.sleep(0.05)
    os.killpg(sync.pid, signal.SIGKILL)
    sync.wait()
    assert database["tunelab.sync_claims"].find_one()["state"] == "uploading"  # it broke off mid-upload

    again = test_project_env.cli("sync", project=TEST_PROJECT)
    assert "1 uploaded" in again.stdout, again.stdout + again.stderr
    (uploaded,) = database.runs.find()
    assert uploaded["status"] == "COMPLETED"
    (artifact,) = (a for a in uploaded["artifacts"] if a["name"] == "big.bin")
    assert gridfs.GridFS(database).get(artifact["file_id"]).read() == (run_dir / "big.bin").read_bytes()
    assert database["fs.files"].count_documents({"filename": {"$regex": "big.bin$"}}) == 1
    assert database.metrics.count_documents({}) == 1


def test_offline_failed_run_syncs_as_failed(test_project_env):
    assert test_project_env.cli("run", "boom", "--offline", project=TEST_PROJECT).returncode == 1
    assert test_project_env.cli("sync", project=TEST_PROJECT).returncode == 0
    run = test_project_env.database.runs.find_one()
    assert run["status"] == "FAILED" and "RuntimeError: boom" in "".join(run["fail_trace"])
