"""Metric series of any length, in documents that stay far below MongoDB's 16 MB limit.

Sacred keeps one ``metrics`` document per run and metric (about 44 bytes a
point), so a 500,000-point series no longer fits and its tail was dropped. The
first ``HEAD_POINTS`` points go to that document, which Omniboard reads; the
rest go to ``metrics.buckets`` documents ``{run_id, name, bucket, steps,
values, timestamps}`` of ``BUCKET_POINTS`` each (bucket 0 first).
:func:`read_series` joins them back: tunelab's readers use it for the whole series.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pymongo.database import Database

HEAD_POINTS = 100_000  # about 4.4 MB: what Omniboard loads for a run's plot
BUCKET_POINTS = 20_000  # SecantusDB rewrites a document on each append: small buckets stay cheap
BUCKETS = "metrics.buckets"
FIELDS = ("steps", "values", "timestamps")


def store_points(
    database: Database, run_id: Any, name: str, stored: int, points: Mapping[str, Sequence[Any]]
) -> tuple[int, Any]:
    """Append the first points of ``points`` after the ``stored`` already there, up to the end of one
    document; returns ``(how many were appended, the metrics document's id if this created it)``."""
    if stored < HEAD_POINTS:
        room, collection, where = HEAD_POINTS - stored, database["metrics"], {}
    else:
        bucket, used = divmod(stored - HEAD_POINTS, BUCKET_POINTS)
        room, collection, where = BUCKET_POINTS - used, database[BUCKETS], {"bucket": bucket}
    chunk = {key: list(points[key][:room]) for key in FIELDS}
    update = {"$push": {key: {"$each": values} for key, values in chunk.items()}}
    result = collection.update_one({"run_id": run_id, "name": name, **where}, update, upsert=True)
    return len(chunk["values"]), result.upserted_id if stored == 0 else None


def read_series(database: Database, run_ids: Iterable[Any], fields: Sequence[str] = ("steps", "values")) -> dict:
    """``{(run id, metric name): {field: whole list}}`` for every metric of ``run_ids``."""
    query = {"run_id": {"$in": list(run_ids)}}
    projection = {"run_id": 1, "name": 1, **dict.fromkeys(fields, 1)}
    series = {
        (doc["run_id"], doc["name"]): {f: doc.get(f, []) for f in fields}
        for doc in database.metrics.find(query, projection)
    }
    for doc in database[BUCKETS].find(query, {**projection, "bucket": 1}).sort("bucket", 1):
        whole = series.setdefault((doc["run_id"], doc["name"]), {f: [] for f in fields})
        for f in fields:
            whole[f].extend(doc.get(f, []))
    return series
