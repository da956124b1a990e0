"""--offline writes a local directory; `tunelab sync` uploads it once, completely."""

from __future__ import annotations

import gridfs

from tests.conftest import TEST_PROJECT


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


def test_sync_replaces_a_broken_off_upload(test_project_env):
    assert test_project_env.cli("run", "slow", "--offline", project=TEST_PROJECT).returncode == 0
    assert test_project_env.cli("sync", project=TEST_PROJECT).returncode == 0
    database = test_project_env.database
    # Simulate an upload that broke off before it was marked: drop the marker.
    (marker,) = test_project_env.settings.offline_dir.glob("*/.synced")
    marker.unlink()
    assert test_project_env.cli("sync", project=TEST_PROJECT).returncode == 0
    assert database.runs.count_documents({}) == 1
    assert database.metrics.count_documents({}) == 1


def test_offline_failed_run_syncs_as_failed(test_project_env):
    assert test_project_env.cli("run", "boom", "--offline", project=TEST_PROJECT).returncode == 1
    assert test_project_env.cli("sync", project=TEST_PROJECT).returncode == 0
    run = test_project_env.database.runs.find_one()
    assert run["status"] == "FAILED" and "RuntimeError: boom" in "".join(run["fail_trace"])
