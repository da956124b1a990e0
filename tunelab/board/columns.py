"""Omniboard custom columns for the summary tunelab writes on every run.

Omniboard's own metric columns join the ``metrics`` collection for every row
(4.6 s for 200 runs on the embedded database). tunelab stores each metric's
last and best value in ``info.summary`` at the end of a run and registers
plain custom columns over those paths (``omniboard.custom.columns``), so the
runs list stays a projection of ``runs``.
"""

from __future__ import annotations

from collections.abc import Iterable

from pymongo.database import Database

CUSTOM_COLUMNS = "omniboard.custom.columns"
FIXED_COLUMNS = {
    "data version": "info.data_version",
    "git commit": "info.git_commit",
    "study": "info.study",
    "trial": "info.trial",
}
_LOWER_IS_BETTER = ("loss", "error", "mse", "mae", "rmse", "time")


def lower_is_better(metric: str) -> bool:
    """Whether a metric's best value is its smallest, judged by its name (``val_loss``: yes)."""
    return any(word in metric.lower() for word in _LOWER_IS_BETTER)


def summary_key(metric: str) -> str:
    """The key of a metric in ``info.summary`` (MongoDB keys cannot hold dots)."""
    return metric.replace(".", "_")


def metric_columns(metric: str) -> dict[str, str]:
    key = summary_key(metric)
    return {f"{metric} best": f"info.summary.{key}.best", f"{metric} last": f"info.summary.{key}.last"}


def register_columns(database: Database, metrics: Iterable[str]) -> None:
    """Add the fixed columns and two per metric (best, last); existing ones are left alone."""
    columns = dict(FIXED_COLUMNS)
    for metric in metrics:
        columns.update(metric_columns(metric))
    collection = database[CUSTOM_COLUMNS]
    for name, path in columns.items():
        collection.update_one({"name": name}, {"$setOnInsert": {"config_path": path}}, upsert=True)
