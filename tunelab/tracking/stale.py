"""Runs whose process died: still RUNNING in the database, with a heartbeat that stopped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pymongo.collection import Collection


def fail_dead_runs(runs: Collection, query: Mapping[str, Any], silent_for_s: float, reason: str) -> list[Any]:
    """Mark FAILED the RUNNING runs matching ``query`` with no heartbeat for ``silent_for_s``.

    Sacred beats every second while a run lives, so a run silent for several
    seconds has lost its process (``kill -9``, a crashed machine). Returns their ids.
    """
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # Sacred stores naive UTC
    cutoff = now - dt.timedelta(seconds=silent_for_s)
    dead = {
        **query,
        "status": "RUNNING",
        "$or": [{"heartbeat": {"$lt": cutoff}}, {"heartbeat": None, "start_time": {"$lt": cutoff}}],
    }
    ids = [doc["_id"] for doc in runs.find(dead, {"_id": 1})]
    if ids:
        runs.update_many(
            {**dead, "_id": {"$in": ids}},
            {"$set": {"status": "FAILED", "stop_time": now, "fail_trace": [reason]}},
        )
    return ids
