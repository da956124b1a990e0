"""'Best' follows the direction an experiment declares for its result, not a metric's name."""

from __future__ import annotations

from tunelab.dashboards.runs import best_first


def test_best_first_follows_the_result_direction():
    rmse = [{"_id": i, "result": r, "info": {"result_direction": "minimize"}} for i, r in enumerate([3.0, 1.0, 2.0])]
    assert [r["_id"] for r in best_first(rmse)] == [1, 2, 0]
    accuracy = [{"_id": i, "result": r, "info": {}} for i, r in enumerate([0.7, 0.9, None, 0.8])]
    assert [r["_id"] for r in best_first(accuracy)] == [1, 3, 0]
