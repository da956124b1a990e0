"""Reading runs for dashboards, comparisons and exports: only the fields needed, curves downsampled."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo.database import Database

from tunelab.errors import TunelabError
from tunelab.tracking.metric_store import read_series

# What tables and exports show of a run; never its captured output, sources or artifacts.
RUN_FIELDS = {
    "experiment.name": 1,
    "status": 1,
    "result": 1,
    "info.result_direction": 1,
    "start_time": 1,
    "stop_time": 1,
    "config": 1,
    "host.hostname": 1,
    "omniboard.tags": 1,
    "info.data_version": 1,
    "info.git_commit": 1,
    "info.study": 1,
    "info.trial": 1,
    "info.engine": 1,
    "info.summary": 1,
    "info.objective": 1,
    "info.params": 1,
    "info.reproduces": 1,
}
MAX_POINTS = 500  # per curve; a longer one is downsampled keeping each bucket's minimum and maximum


def find_runs(database: Database, run_filter: Mapping[str, Any], extra_fields: Iterable[str] = ()) -> list[dict]:
    """The runs matching ``run_filter`` (by id), with :data:`RUN_FIELDS` and ``extra_fields``."""
    projection = {**RUN_FIELDS, **{field: 1 for field in extra_fields}}
    return sorted(database.runs.find(run_filter, projection), key=lambda run: _sortable_id(run["_id"]))


def best_first(runs: Sequence[dict]) -> list[dict]:
    """The runs with a numeric result, best first, in the direction their experiment declares
    (``TrackedExperiment(..., direction=)``, recorded as ``info.result_direction``; maximize if none)."""

    def key(run: dict) -> float:
        return run["result"] if run.get("info", {}).get("result_direction") == "minimize" else -run["result"]

    scored = [r for r in runs if isinstance(r.get("result"), (int, float)) and not isinstance(r["result"], bool)]
    return sorted(scored, key=key)


def runs_by_id(database: Database, run_ids: Sequence[int]) -> list[dict]:
    """The runs in the order given; TunelabError naming the first id that does not exist."""
    found = {run["_id"]: run for run in find_runs(database, {"_id": {"$in": list(run_ids)}})}
    for run_id in run_ids:
        if run_id not in found:
            raise TunelabError(f"run {run_id} does not exist")
    return [found[run_id] for run_id in run_ids]


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level of dotted keys; lists become JSON text."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, (list, tuple)) else value
    return flat


def duration_s(run: Mapping[str, Any]) -> float | None:
    if run.get("start_time") and run.get("stop_time"):
        return (run["stop_time"] - run["start_time"]).total_seconds()
    return None


def run_row(run: Mapping[str, Any]) -> dict[str, Any]:
    """One flat row: identity, outcome, provenance, ``config.*`` and ``metrics.<name>.last|min|max``."""
    info = run.get("info", {})
    row = {
        "run_id": run["_id"],
        "experiment": run["experiment"]["name"],
        "status": run["status"],
        "result": run.get("result")
        if isinstance(run.get("result"), (int, float, str, type(None)))
        else str(run["result"]),
        "start_time": run.get("start_time"),
        "duration_s": duration_s(run),
        "host": run.get("host", {}).get("hostname"),
        "data_version": info.get("data_version"),
        "git_commit": info.get("git_commit"),
        "study": info.get("study"),
        "trial": info.get("trial"),
        "tags": ",".join(run.get("omniboard", {}).get("tags", [])) or None,
    }
    row.update(flatten(run.get("config", {}), "config."))
    for metric, values in info.get("summary", {}).items():
        row.update({f"metrics.{metric}.{k}": values.get(k) for k in ("last", "min", "max")})
    return row


@dataclass(frozen=True)
class Curve:
    steps: list[float]
    values: list[float]


def metric_curves(
    database: Database, run_ids: Sequence[Any], max_points: int = MAX_POINTS
) -> dict[Any, dict[str, Curve]]:
    """run id → metric name → its curve, downsampled to at most about ``max_points`` points."""
    curves: dict[Any, dict[str, Curve]] = {run_id: {} for run_id in run_ids}
    for (run_id, name), series in read_series(database, run_ids).items():
        curves[run_id][name] = Curve(*downsample(series["steps"], series["values"], max_points))
    return curves


def downsample(steps: Sequence[float], values: Sequence[float], max_points: int) -> tuple[list, list]:
    """At most about ``max_points`` points: the first, the last, and each bucket's minimum and maximum
    (in step order), so spikes and the best value survive."""
    if len(values) <= max_points:
        return list(steps), list(values)
    buckets = max(1, (max_points - 2) // 2)
    size = (len(values) - 2) / buckets
    keep = {0, len(values) - 1}
    for b in range(buckets):
        start, stop = 1 + int(b * size), 1 + int((b + 1) * size)
        if start < stop:
            window = range(start, stop)
            keep.add(min(window, key=values.__getitem__))
            keep.add(max(window, key=values.__getitem__))
    order = sorted(keep)
    return [steps[i] for i in order], [values[i] for i in order]


def _sortable_id(run_id: Any) -> tuple[int, Any]:
    return (0, run_id) if isinstance(run_id, int) else (1, str(run_id))
