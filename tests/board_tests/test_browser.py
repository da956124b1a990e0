"""Omniboard in headless Chromium (Debian's /usr/bin/chromium): the runs table and a metric plot."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.board_tests.test_board import small_batch  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--virtual-time-budget=20000", "--window-size=1600,1000",
]  # fmt: skip


@pytest.fixture
def chromium(tmp_path):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} missing (scripts/test installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} missing: apt-get install chromium")

    def browse(url: str, *action: str) -> str:
        profile = tmp_path / "profile"
        shutil.rmtree(profile, ignore_errors=True)
        result = subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *action, url],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    return browse


def test_runs_table_and_a_keras_runs_metric_plot(tunelab_env, start_board, small_batch, chromium, tmp_path):  # noqa: F811
    port, _ = start_board()
    page = f"http://127.0.0.1:{port}/{tunelab_env.settings.db_name}"

    table = chromium(page, "--dump-dom")
    rows = re.findall(r'class="fixedDataTableRowLayout_rowWrapper"', table)
    assert len(rows) == 1 + 3  # the header and one row per run
    assert table.count(">COMPLETED<") == 3
    assert "val_accuracy best" in table and "data version" in table
    chromium(page, f"--screenshot={tmp_path / 'runs-table.png'}")

    mlp = small_batch["mlp"]["_id"]
    drill_down = f"{page}?showDrillDownRunModal=true&runIdToExpand={mlp}&runIdStatus=COMPLETED"
    plot = chromium(drill_down, "--dump-dom")
    assert "js-plotly-plot" in plot
    legend = set(re.findall(r'class="legendtext[^"]*"[^>]*data-unformatted="([^"]+)"', plot))
    assert legend == {"loss", "accuracy", "val_loss", "val_accuracy"}
    lines = re.findall(r'class="js-line" d="([^"]+)"', plot)
    assert sum(d.count("L") >= 6 for d in lines) >= 4, lines  # the curves, 8 epochs each
    chromium(drill_down, f"--screenshot={tmp_path / 'metric-plot.png'}")
    assert (tmp_path / "runs-table.png").stat().st_size > 10_000
    assert (tmp_path / "metric-plot.png").stat().st_size > 10_000
    print(f"screenshots: {tmp_path / 'runs-table.png'}, {tmp_path / 'metric-plot.png'}")
