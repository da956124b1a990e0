"""'Best' follows the direction an experiment declares for its result, not a metric's name."""

from __future__ import annotations

from tunelab.cli._output import verdict_table
from tunelab.dashboards.runs import best_first


def test_best_first_follows_the_result_direction():
    rmse = [{"_id": i, "result": r, "info": {"result_direction": "minimize"}} for i, r in enumerate([3.0, 1.0, 2.0])]
    assert [r["_id"] for r in best_first(rmse)] == [1, 2, 0]
    accuracy = [{"_id": i, "result": r, "info": {}} for i, r in enumerate([0.7, 0.9, None, 0.8])]
    assert [r["_id"] for r in best_first(accuracy)] == [1, 3, 0]


def test_a_stack_verdict_follows_its_scorer_direction():
    """`tunelab stack`'s table of an rmse stack: lowest error first, and a lower ensemble error is green."""
    info = {
        "verdict": "ensemble beats the best single learner",
        "meta_learner": "ridge",
        "result_direction": "minimize",
        "held_out": {"base": {"a": 3.0, "b": 1.0}, "ensemble": 0.5, "best_single": "b"},
    }
    learners, scores = verdict_table(7, info).columns
    assert list(learners._cells)[:3] == ["b  (best single)", "a", "[bold]ensemble[/] (meta: ridge)"]
    assert scores._cells[2:] == ["[green]0.5000[/]", "+0.5"]
