"""Omniboard in headless Chromium (Debian's /usr/bin/chromium): the runs table and a metric plot."""

from __future__ import annotations

import re

import pytest

from tests.board_tests.test_board import small_batch  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


def test_runs_table_and_a_keras_runs_metric_plot(tunelab_env, start_board, small_batch, chromium, tmp_path):  # noqa: F811
    port, _ = start_board()
    page = f"http://127.0.0.1:{port}/{tunelab_env.settings.db_name}"

    table = chromium(page, "--dump-dom").dom
    rows = re.findall(r'class="fixedDataTableRowLayout_rowWrapper"', table)
    assert len(rows) == 1 + 3  # the header and one row per run
    assert table.count(">COMPLETED<") == 3
    assert "val_accuracy best" in table and "data version" in table
    chromium(page, f"--screenshot={tmp_path / 'runs-table.png'}")

    mlp = small_batch["mlp"]["_id"]
    drill_down = f"{page}?showDrillDownRunModal=true&runIdToExpand={mlp}&runIdStatus=COMPLETED"
    plot = chromium(drill_down, "--dump-dom").dom
    assert "js-plotly-plot" in plot
    legend = set(re.findall(r'class="legendtext[^"]*"[^>]*data-unformatted="([^"]+)"', plot))
    assert legend == {"loss", "accuracy", "val_loss", "val_accuracy"}
    lines = re.findall(r'class="js-line" d="([^"]+)"', plot)
    assert sum(d.count("L") >= 6 for d in lines) >= 4, lines  # the curves, 8 epochs each
    chromium(drill_down, f"--screenshot={tmp_path / 'metric-plot.png'}")
    assert (tmp_path / "runs-table.png").stat().st_size > 10_000
    assert (tmp_path / "metric-plot.png").stat().st_size > 10_000
    print(f"screenshots: {tmp_path / 'runs-table.png'}, {tmp_path / 'metric-plot.png'}")
