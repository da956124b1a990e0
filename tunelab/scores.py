"""The scores tunelab computes, with the direction that makes one better and the task each is for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sklearn import metrics


@dataclass(frozen=True)
class Score:
    function: Callable[..., float]  # (y_true, y_pred) -> float
    direction: str  # "maximize" or "minimize"
    task: str

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` is strictly better than ``b``."""
        return a > b if self.direction == "maximize" else a < b

    def best(self, scores: dict[str, float]) -> str:
        """The key of the best value."""
        pick = max if self.direction == "maximize" else min
        return pick(scores, key=scores.get)


SCORES: dict[str, Score] = {
    "accuracy": Score(metrics.accuracy_score, "maximize", "classification"),
    "balanced_accuracy": Score(metrics.balanced_accuracy_score, "maximize", "classification"),
    "f1": Score(metrics.f1_score, "maximize", "classification"),
    "r2": Score(metrics.r2_score, "maximize", "regression"),
    "rmse": Score(metrics.root_mean_squared_error, "minimize", "regression"),
    "mae": Score(metrics.mean_absolute_error, "minimize", "regression"),
}


def task_scores(task: str) -> dict[str, float]:
    """The scores of ``task``, by name (``f1`` left out: it needs two classes)."""
    return {name: score for name, score in SCORES.items() if score.task == task and name != "f1"}
