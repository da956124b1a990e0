"""Run ids: integers, as in Sacred, from a counter document, a block at a time per process.

Stock Sacred takes the largest id + 1 for each run, which SecantusDB answers
with a scan; tunelab reserves RUN_ID_BLOCK ids with one counter update, and a
writer that finds an id taken (by a stock Sacred run) skips past it.
"""

from __future__ import annotations

import contextlib
import os
import threading

import pymongo
from pymongo.collection import Collection

COUNTERS = "tunelab.counters"  # ``{_id: "runs", seq}``: the last run id any process reserved
RUN_ID_BLOCK = 32  # run ids a process reserves with one counter update


def largest_id(runs: Collection) -> int:
    """The largest run id (0 for no runs)."""
    last = runs.find_one({}, {"_id": 1}, sort=[("_id", pymongo.DESCENDING)])
    return last["_id"] if last else 0


class RunIds:
    """Run ids this process reserved: one counter update (``COUNTERS``, ``_id: runs``) per RUN_ID_BLOCK runs.

    Kept per process id (a forked worker reserves its own), client and database;
    thread-safe. The counter starts after the largest id in ``runs``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blocks: dict[tuple[int, int, str], list[int]] = {}  # key -> [next id, last id reserved]

    def take(self, runs: Collection) -> int:
        """The next reserved id (reserving a new block when this one is used up)."""
        with self._lock:
            block = self._blocks.get(self._key(runs))
            if block is None or block[0] > block[1]:
                block = self._blocks[self._key(runs)] = self._reserve(runs)
            block[0] += 1
            return block[0] - 1

    def skip_taken(self, runs: Collection) -> None:
        """After a duplicate id: skip every id up to the largest taken, and move the counter past it."""
        largest = largest_id(runs)
        runs.database[COUNTERS].update_one({"_id": "runs"}, {"$max": {"seq": largest}})
        with self._lock:
            block = self._blocks.get(self._key(runs))
            if block is not None:
                block[0] = max(block[0], largest + 1)

    def forget(self) -> None:
        """Drop every reserved block (their unused ids stay unused)."""
        with self._lock:
            self._blocks.clear()

    def _reserve(self, runs: Collection) -> list[int]:
        counters = runs.database[COUNTERS]
        while True:
            counter = counters.find_one_and_update(
                {"_id": "runs"}, {"$inc": {"seq": RUN_ID_BLOCK}}, return_document=pymongo.ReturnDocument.AFTER
            )
            if counter is not None:
                return [counter["seq"] - RUN_ID_BLOCK + 1, counter["seq"]]
            with contextlib.suppress(pymongo.errors.DuplicateKeyError):
                counters.insert_one({"_id": "runs", "seq": largest_id(runs)})

    @staticmethod
    def _key(runs: Collection) -> tuple[int, int, str]:
        return os.getpid(), id(runs.database.client), runs.database.name


RUN_IDS = RunIds()
