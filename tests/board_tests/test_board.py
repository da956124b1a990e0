"""`tunelab board` against the real SecantusDB and the real Omniboard 2.16.1 process."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request

import pytest
import yaml

from tests.board_tests.conftest import get, listening_address
from tests.conftest import REPO, free_port
from tunelab.db import EmbeddedServer
from tunelab.processes import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def small_batch(tunelab_env):
    """Three runs: two scikit-learn runs and a 2-epoch Keras run."""
    result = tunelab_env.cli(
        "batch",
        "configs/batch/svm_c10.json",
        "configs/batch/gradient_boosting_fast.json",
        "configs/batch/mlp_small.json",
        "--set",
        "seed=3",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return {run["experiment"]["name"]: run for run in tunelab_env.database.runs.find()}


def test_rest_api_serves_every_run_with_summary_columns_and_keras_metrics(tunelab_env, start_board, small_batch):
    port, result = start_board()
    db_name = tunelab_env.settings.db_name
    assert f"http://127.0.0.1:{port}/{db_name}" in result.stdout
    api = f"http://127.0.0.1:{port}/{db_name}/api/v1"

    assert get(f"{api}/Runs/count")["count"] == 3
    runs = get(
        f"{api}/Runs?select=_id,status,config,info.summary,info.data_version,info.git_commit&sort_by=_id&order_by=1"
    )
    assert [run["status"] for run in runs] == ["COMPLETED"] * 3
    by_id = {run["_id"]: run for run in runs}
    page = get(f"{api}/Runs?select=_id,status,duration&sort_by=_id&order_by=-1&limit=2")  # sorted, paged first
    assert [run["_id"] for run in page] == sorted(by_id, reverse=True)[:2]
    assert all(run["status"] == "COMPLETED" and run["duration"] >= 0 for run in page)
    mlp = small_batch["mlp"]
    assert by_id[mlp["_id"]]["config"]["epochs"] == 8
    summary = by_id[mlp["_id"]]["info"]["summary"]
    assert by_id[mlp["_id"]]["info"]["data_version"] == mlp["info"]["data_version"]

    columns = {c["name"]: c["config_path"] for c in get(f"{api}/Omniboard.Custom.Columns")}
    assert columns["val_accuracy best"] == "info.summary.val_accuracy.best"
    assert columns["data version"] == "info.data_version" and columns["study"] == "info.study"

    metrics = get(f'{api}/Metrics?query={{"run_id":{mlp["_id"]}}}')
    assert {m["name"] for m in metrics} == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(m["values"]) == 8 for m in metrics)
    values = {m["name"]: m["values"] for m in metrics}
    assert summary["val_accuracy"]["best"] == max(values["val_accuracy"])  # higher is better
    assert summary["val_accuracy"]["last"] == values["val_accuracy"][-1]
    assert summary["val_loss"]["best"] == summary["val_loss"]["min"] == min(values["val_loss"])


def test_board_listens_on_loopback_unless_told(tunelab_env, start_board):
    port, _ = start_board()
    assert listening_address(port) == "127.0.0.1"
    again = tunelab_env.cli("board")
    assert "already runs" in again.stdout
    assert tunelab_env.cli("board", "--stop").stdout.strip() == "stopped"

    port, result = start_board("--host", "0.0.0.0")
    assert listening_address(port) == "0.0.0.0"
    assert "warning: Omniboard will listen on 0.0.0.0" in result.stderr


def test_auth_protects_the_api(tunelab_env, start_board):
    port, result = start_board("--host", "0.0.0.0", "--auth", "ana:s3cret")
    assert "warning" not in result.stderr
    api = f"http://127.0.0.1:{port}/{tunelab_env.settings.db_name}/api/v1/Runs/count"
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(api)
    assert refused.value.code == 401
    assert get(api, auth=("ana", "s3cret"))["count"] == 0
    pid = tunelab_env.cli("board").stdout.split("pid ")[1].split(")")[0]
    assert "s3cret" not in open(f"/proc/{pid}/cmdline").read()  # `ps` does not show the password
    bad = tunelab_env.cli("board", "--auth", "no-colon")
    assert bad.returncode == 2 and "--auth: expected USER:PASSWORD" in bad.stderr


def _status(url: str, method: str = "GET", **headers: str) -> int:
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as refused:
        return refused.code


def test_board_refuses_foreign_origins_and_hosts(tunelab_env, start_board):
    tunelab_env.database.runs.insert_many(
        [{"_id": i, "status": "COMPLETED", "experiment": {"name": "x"}} for i in (1, 2)]
    )
    port, _ = start_board()
    runs = f"http://127.0.0.1:{port}/{tunelab_env.settings.db_name}/api/v1/Runs"
    evil = "http://evil.example"
    preflight = {"Origin": evil, "Access-Control-Request-Method": "DELETE"}
    assert _status(f"{runs}/1", "OPTIONS", **preflight) == 403
    assert _status(f"{runs}/1", "DELETE", Origin=evil) == 403
    assert _status(f"{runs}/count", Origin=evil) == 403  # no reading by another site either
    assert _status(f"{runs}/count", Host="evil.example") == 403  # DNS rebinding
    assert _status(f"{runs}/count", Host=f"evil.example:{port}") == 403
    assert tunelab_env.database.runs.count_documents({}) == 2
    assert _status(f"{runs}/count", Host=f"localhost:{port}") == 200
    assert _status(f"{runs}/2", "DELETE", Origin=f"http://127.0.0.1:{port}") in (200, 204)  # the board's own page
    assert tunelab_env.database.runs.count_documents({}) == 1


def test_several_databases_on_one_board(tunelab_env, start_board):
    other = f"{tunelab_env.settings.db_name}_b"
    tunelab_env.database.client[other]["runs"].insert_one(
        {"_id": 1, "status": "COMPLETED", "experiment": {"name": "x"}}
    )
    port, result = start_board("--db", tunelab_env.settings.db_name, "--db", other)
    assert get(f"http://127.0.0.1:{port}/{tunelab_env.settings.db_name}/api/v1/Runs/count")["count"] == 0
    assert get(f"http://127.0.0.1:{port}/{other}/api/v1/Runs/count")["count"] == 1


def test_board_serves_again_after_the_database_restarts(tunelab_env, start_board, tmp_path):
    server = EmbeddedServer(tmp_path / "own-db", free_port())
    server.start()
    tunelab_env.env["TUNELAB_MONGO_URL"] = server.url
    try:
        port, _ = start_board()
        api = f"http://127.0.0.1:{port}/{tunelab_env.settings.db_name}/api/v1/Runs/count"
        assert get(api)["count"] == 0
        os.kill(server.status().pid, 9)
        assert wait_until(lambda: not server.status().running, 10)
        server.start()
        deadline = time.monotonic() + 60
        while True:
            try:
                assert get(api)["count"] == 0
                break
            except (urllib.error.URLError, OSError, ValueError):
                assert time.monotonic() < deadline, "the board did not recover"
                time.sleep(1)
    finally:
        tunelab_env.cli("board", "--stop")
        server.stop()


def test_no_npm_registry_and_no_cache_is_one_line(tunelab_env, tmp_path):
    tunelab_env.env.update(TUNELAB_CACHE_DIR=str(tmp_path / "empty-cache"), npm_config_registry="http://127.0.0.1:9/")
    result = tunelab_env.cli("board", "--port", str(free_port()), timeout=300)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert (
        "cannot install Omniboard 2.16.1 with npm: npm cannot reach its registry http://127.0.0.1:9/" in result.stderr
    )


def test_docker_compose_file():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["mongo"]["image"].startswith("mongo:7")
    assert services["omniboard"]["image"] == "vivekratnavel/omniboard:v2.16.1"
    assert services["postgres"]["image"].startswith("postgres:")
    assert "mongo:27017:tunelab" in " ".join(services["omniboard"]["command"])
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
    assert {"mongo-data", "postgres-data"} <= set(compose["volumes"])
    assert services["mongo"]["volumes"] == ["mongo-data:/data/db"]
