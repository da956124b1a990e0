"""Omniboard shows the run queue: QUEUED runs come back from its REST API."""

from __future__ import annotations

import pytest

from tests.board_tests.conftest import get

pytestmark = pytest.mark.slow


def test_rest_api_lists_the_queued_runs(tunelab_env, start_board):
    configs = ["configs/batch/svm_c10.json", "configs/batch/gradient_boosting_fast.json"]
    enqueued = tunelab_env.cli("batch", *configs, "--enqueue")
    assert enqueued.returncode == 0, enqueued.stderr
    port, _ = start_board()
    api = f"http://127.0.0.1:{port}/{tunelab_env.settings.db_name}/api/v1"
    runs = get(f"{api}/Runs?select=_id,status,experiment,config&sort_by=_id&order_by=1")
    assert [run["status"] for run in runs] == ["QUEUED", "QUEUED"]
    assert [run["experiment"]["name"] for run in runs] == ["svm", "gradient_boosting"]
    assert runs[0]["config"]["C"] == 10
