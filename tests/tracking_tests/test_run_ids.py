"""Run ids come from a counter, a block per process (SecantusDB sorts by scanning), and still agree with stock
Sacred's."""

from __future__ import annotations

import pymongo
from sacred import Experiment
from sacred.observers import MongoObserver

from tests.conftest import TEST_PROJECT
from tunelab.tracking import observers
from tunelab.tracking.observers import final_saves_in_background
from tunelab.tracking.run_ids import COUNTERS, RUN_ID_BLOCK, RUN_IDS
from tunelab.tracking.runner import execute, prepare_run


def _stock_sacred_run(mongo_url: str, db_name: str) -> int:
    stock = Experiment("stock")
    stock.main(lambda: 1)
    stock.observers.append(MongoObserver(url=mongo_url, db_name=db_name))
    return stock.run()._id  # Sacred's own scheme: the largest id + 1


def test_ids_continue_across_tunelab_and_stock_sacred_runs(test_project_env, mongo_url):
    settings = test_project_env.settings
    request = prepare_run(settings, "slow", TEST_PROJECT / "configs" / "slow.json")
    first = execute(settings, request)

    stock_id = _stock_sacred_run(mongo_url, settings.db_name)
    after = execute(settings, request)  # the counter is behind: it must catch up, not collide
    assert [first.run_id, stock_id, after.run_id] == [1, 2, 3]
    runs = test_project_env.database.runs
    assert sorted(doc["_id"] for doc in runs.find({}, {"_id": 1})) == [1, 2, 3]


def test_a_process_reserves_a_block_of_ids_with_one_counter_update(test_project_env):
    settings = test_project_env.settings
    request = prepare_run(settings, "slow", TEST_PROJECT / "configs" / "slow.json")
    assert [execute(settings, request).run_id for _ in range(3)] == [1, 2, 3]
    counters = test_project_env.database[COUNTERS]
    assert counters.find_one({"_id": "runs"})["seq"] == RUN_ID_BLOCK  # one update for the three runs

    RUN_IDS.forget()  # as another process would, it reserves the next block: ids 4..32 stay unused
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


def test_a_run_shorter_than_the_insert_delay_is_written_once_and_a_longer_one_is_there_while_it_runs(
    test_project_env, monkeypatch
):
    settings, runs = test_project_env.settings, test_project_env.database.runs
    execute(settings, prepare_run(settings, "slow", None, ["steps=0"]))  # the process's first run: indexes, ids
    monkeypatch.setattr(observers, "INSERT_DELAY_S", 30.0)  # a loaded machine cannot make the run outlast it
    writes = []
    for method in ("insert_one", "update_one"):
        original = getattr(pymongo.collection.Collection, method)

        def counted(self, *args, _original=original, _method=method, **kwargs):
            if self.name == "runs":
                writes.append(_method)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(pymongo.collection.Collection, method, counted)
    short = execute(settings, prepare_run(settings, "slow", None, ["steps=0"]))
    assert writes == ["insert_one"]  # inserted whole, finished, by its final save
    assert runs.find_one({"_id": short.run_id})["status"] == "COMPLETED"

    monkeypatch.setattr(observers, "INSERT_DELAY_S", 0.05)
    seen = []

    def look(name, value, step):
        if step == 1:  # 0.5 s after the start; Sacred's first heartbeat comes at 1 s
            seen.append(runs.find_one({"status": "RUNNING"}))

    longer = execute(settings, prepare_run(settings, "slow", None, ["steps=2", "sleep_s=0.5"]), on_step=look)
    assert seen[0]["_id"] == longer.run_id
    assert runs.find_one({"_id": longer.run_id})["status"] == "COMPLETED"


def test_a_run_moved_off_its_id_by_a_final_save_in_the_background_says_so(test_project_env, mongo_url, monkeypatch):
    """A short run is inserted by its final save, after the caller read its id: a stock Sacred run that took
    that id meanwhile moves it, and the caller is told (a search notes it in the study)."""
    monkeypatch.setattr(observers, "INSERT_DELAY_S", 30.0)
    settings, runs = test_project_env.settings, test_project_env.database.runs
    request = prepare_run(settings, "slow", None, ["steps=0"])
    first = execute(settings, request).run_id
    assert _stock_sacred_run(mongo_url, settings.db_name) == first + 1  # the id this process reserved next
    moves = []
    with final_saves_in_background(on_moved=lambda old, new: moves.append((old, new))):
        execute(settings, request)
    assert moves == [(first + 1, first + 2)]
    assert runs.find_one({"_id": first + 2})["status"] == "COMPLETED"
    assert runs.find_one({"_id": first + 1})["experiment"]["name"] == "stock"
