"""Run ids come from a counter, a block per process (SecantusDB sorts by scanning), and still agree with stock
Sacred's."""

from __future__ import annotations

from sacred import Experiment
from sacred.observers import MongoObserver

from tests.conftest import TEST_PROJECT
from tunelab.tracking.observers import _RUN_IDS, COUNTERS, RUN_ID_BLOCK
from tunelab.tracking.runner import execute, prepare_run


def test_ids_continue_across_tunelab_and_stock_sacred_runs(test_project_env, mongo_url):
    settings = test_project_env.settings
    request = prepare_run(settings, "slow", TEST_PROJECT / "configs" / "slow.json")
    first = execute(settings, request)

    stock = Experiment("stock")
    stock.main(lambda: 1)
    stock.observers.append(MongoObserver(url=mongo_url, db_name=settings.db_name))
    stock_run = stock.run()  # Sacred's own scheme: the largest id + 1

    after = execute(settings, request)  # the counter is behind: it must catch up, not collide
    assert [first.run_id, stock_run._id, after.run_id] == [1, 2, 3]
    runs = test_project_env.database.runs
    assert sorted(doc["_id"] for doc in runs.find({}, {"_id": 1})) == [1, 2, 3]


def test_a_process_reserves_a_block_of_ids_with_one_counter_update(test_project_env):
    settings = test_project_env.settings
    request = prepare_run(settings, "slow", TEST_PROJECT / "configs" / "slow.json")
    assert [execute(settings, request).run_id for _ in range(3)] == [1, 2, 3]
    counters = test_project_env.database[COUNTERS]
    assert counters.find_one({"_id": "runs"})["seq"] == RUN_ID_BLOCK  # one update for the three runs

    _RUN_IDS.forget()  # as another process would, it reserves the next block: ids 4..32 stay unused
    assert execute(settings, request).run_id == RUN_ID_BLOCK + 1
    assert counters.find_one({"_id": "runs"})["seq"] == 2 * RUN_ID_BLOCK


def test_lookups_have_indexes(test_project_env):
    settings = test_project_env.settings
    execute(settings, prepare_run(settings, "slow", TEST_PROJECT / "configs" / "slow.json"))
    database = test_project_env.database
    assert [("run_id", 1), ("name", 1)] in [info["key"] for info in database.metrics.index_information().values()]
    assert [("info.study", 1), ("info.trial", 1)] in [
        info["key"] for info in database.runs.index_information().values()
    ]
