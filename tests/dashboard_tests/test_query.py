"""Query terms become MongoDB filters; bad terms are one line naming the term."""

from __future__ import annotations

import datetime as dt

import pytest

from tunelab.dashboards.query import parse_terms, run_filter
from tunelab.dashboards.runs import downsample
from tunelab.errors import TunelabError


def test_terms_and_shorthands():
    terms = parse_terms('experiment=svm status=COMPLETED "config.kernel=rbf"', ["config.C>1", "since=2026-11-01"])
    assert run_filter(terms) == {
        "$and": [
            {"experiment.name": {"$eq": "svm"}},
            {"status": {"$eq": "COMPLETED"}},
            {"config.kernel": {"$eq": "rbf"}},
            {"config.C": {"$gt": 1}},
            {"start_time": {"$gte": dt.datetime(2026, 11, 1)}},
        ]
    }
    assert run_filter(["study~^svm", "id<=10", "tag=baseline"]) == {
        "$and": [
            {"info.study": {"$regex": "^svm"}},
            {"_id": {"$lte": 10}},
            {"omniboard.tags": {"$eq": "baseline"}},
        ]
    }
    assert run_filter(["dag=tunelab_pipeline", "dag_run=manual__2026-11-23T12:00:00+00:00"]) == {
        "$and": [
            {"info.airflow.dag_id": {"$eq": "tunelab_pipeline"}},
            {"info.airflow.run_id": {"$eq": "manual__2026-11-23T12:00:00+00:00"}},
        ]
    }
    assert run_filter([]) == {}


@pytest.mark.parametrize(
    "term, message",
    [
        ("config.C", "expected FIELD OP VALUE"),
        ("config.C>", "expected FIELD OP VALUE"),
        ("colour=red", "unknown field 'colour'"),
        ("status=DONE", "unknown status 'DONE'"),
        ("since=yesterday", "'yesterday' is not an ISO date"),
        ("since>2026-01-01", "since takes '='"),
        ("experiment~([", "bad regular expression"),
    ],
)
def test_bad_terms(term, message):
    with pytest.raises(TunelabError, match=message) as error:
        run_filter([term])
    assert str(error.value).startswith(f"query term {term!r}: ") and "\n" not in str(error.value)


def test_downsampling_keeps_extremes_and_ends():
    steps = list(range(10_000))
    values = [((i * 7919) % 1000) / 1000 for i in steps]
    values[4321] = -5.0
    values[8765] = 9.0
    kept_steps, kept_values = downsample(steps, values, 500)
    assert len(kept_values) <= 500 and kept_steps == sorted(kept_steps)
    assert kept_steps[0] == 0 and kept_steps[-1] == 9_999
    assert -5.0 in kept_values and 9.0 in kept_values
    assert downsample([1, 2], [3.0, 4.0], 500) == ([1, 2], [3.0, 4.0])
