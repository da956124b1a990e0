"""Which runs: the query terms shared by ``tunelab dashboard``, ``compare`` and ``export``, as one MongoDB filter.

A term is ``FIELD OP VALUE`` with OP one of ``= == != > >= < <= ~`` (``~``: a
regular expression). FIELD is a run document path (``config.C``,
``info.data_version``, ``result``, ``status``…) or a shorthand:

=============  ====================  ==========================================
shorthand      field                 example
=============  ====================  ==========================================
``experiment`` ``experiment.name``   ``experiment=svm``
``study``      ``info.study``        ``study=svm-tpe``
``tag``        ``omniboard.tags``    ``tag=baseline`` (Omniboard's tags)
``since``      ``start_time`` ≥      ``since=2026-11-01`` (ISO date or datetime)
``until``      ``start_time`` <      ``until=2026-11-23T12:00``
``id``         ``_id``               ``id>=100``
=============  ====================  ==========================================

``dag`` and ``dag_run`` stand for ``info.airflow.dag_id`` and
``info.airflow.run_id``: the Airflow DAG and DAG run that made the runs
(``dag_run=manual__2026-11-23T12:00:00+00:00``).

VALUE is read as JSON when it parses (``1``, ``true``, ``"rbf"``), else as a
string; times are UTC, as Sacred records them. Terms are ANDed; the filter is evaluated by MongoDB, never in memory.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shlex
from collections.abc import Iterable
from typing import Any

from tunelab.errors import TunelabError

STATUSES = ("QUEUED", "RUNNING", "COMPLETED", "FAILED", "INTERRUPTED", "TIMEOUT", "PRUNED")
SHORTHANDS = {"experiment": "experiment.name", "study": "info.study", "tag": "omniboard.tags", "id": "_id"}
SHORTHANDS |= {"dag": "info.airflow.dag_id", "dag_run": "info.airflow.run_id"}
FIELD_ROOTS = (
    "config",
    "info",
    "result",
    "status",
    "experiment",
    "host",
    "meta",
    "start_time",
    "stop_time",
    "heartbeat",
    "omniboard",
    "_id",
    "command",
)
OPERATORS = {"=": "$eq", "==": "$eq", "!=": "$ne", ">": "$gt", ">=": "$gte", "<": "$lt", "<=": "$lte", "~": "$regex"}
_TERM = re.compile(r"^(?P<field>[A-Za-z_][\w-]*(?:\.[\w-]+)*)\s*(?P<op>==|!=|>=|<=|=|>|<|~)\s*(?P<value>.*)$", re.S)


def parse_terms(query: str | None, where: Iterable[str] = ()) -> list[str]:
    """The terms of a ``--query`` string (split like a shell line) and of each ``--where``."""
    try:
        terms = shlex.split(query) if query else []
    except ValueError as exc:
        raise TunelabError(f"--query {query!r}: {exc}") from None
    return [*terms, *where]


def run_filter(terms: Iterable[str]) -> dict[str, Any]:
    """The MongoDB filter of the terms; TunelabError naming the term at fault."""
    conditions = [_condition(term) for term in terms]
    return {"$and": conditions} if len(conditions) > 1 else (conditions[0] if conditions else {})


def _condition(term: str) -> dict[str, Any]:
    match = _TERM.match(term.strip())
    if match is None or not match["value"].strip():
        raise TunelabError(
            f"query term {term!r}: expected FIELD OP VALUE (OP one of {' '.join(OPERATORS)}), e.g. 'config.C>1'"
        )
    field, op, text = match["field"], match["op"], match["value"].strip()
    if field in ("since", "until"):
        if op not in ("=", "=="):
            raise TunelabError(f"query term {term!r}: {field} takes '=', as in {field}=2026-11-01")
        return {"start_time": {"$gte" if field == "since" else "$lt": _date(term, text)}}
    path = SHORTHANDS.get(field, field)
    if path.split(".")[0] not in FIELD_ROOTS:
        raise TunelabError(
            f"query term {term!r}: unknown field {field!r} (fields start with {', '.join(FIELD_ROOTS)}; "
            f"or use {', '.join(['since', 'until', *SHORTHANDS])})"
        )
    value = _value(text)
    if op == "~":
        try:
            re.compile(text)
        except re.error as exc:
            raise TunelabError(f"query term {term!r}: bad regular expression: {exc}") from None
        value = text
    if path == "status" and op in ("=", "==", "!=") and value not in STATUSES:
        raise TunelabError(f"query term {term!r}: unknown status {value!r} (known: {', '.join(STATUSES)})")
    if path in ("start_time", "stop_time", "heartbeat") and isinstance(value, str):
        value = _date(term, value)
    return {path: {OPERATORS[op]: value}}


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _date(term: str, text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise TunelabError(
            f"query term {term!r}: {text!r} is not an ISO date (2026-11-01 or 2026-11-01T12:00)"
        ) from None
