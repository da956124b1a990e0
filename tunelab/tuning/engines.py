"""The contract every search engine keeps, as Optuna's ``BaseSampler`` is for samplers.

``tunelab tune`` knows engines only through :class:`SearchEngine`: it checks
one, runs its jobs in worker processes and polls its counts, then prints its
report. The JSON-spec Optuna engine (:mod:`~tunelab.tuning.optuna_engine`), the
objective engine (:mod:`~tunelab.tuning.objectives`) and the Keras Tuner
engine (:mod:`~tunelab.tuning.keras_tuner_projects`) implement it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from optuna.trial import TrialState

from tunelab.tuning.reports import StudyReport

Job = tuple[Callable[..., int], ...]  # a picklable worker entry point and its arguments


@dataclass(frozen=True)
class TrialCounts:
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0

    @property
    def finished(self) -> int:
        """Trials that count against the budget: complete or pruned."""
        return self.complete + self.pruned

    @classmethod
    def of(cls, states: Iterable[TrialState]) -> TrialCounts:
        """The counts of trials in ``states``."""
        states = list(states)
        return cls(
            complete=states.count(TrialState.COMPLETE),
            pruned=states.count(TrialState.PRUNED),
            failed=states.count(TrialState.FAIL),
            running=states.count(TrialState.RUNNING),
            waiting=states.count(TrialState.WAITING),
        )


class SearchEngine(ABC):
    """One study searched by one engine.

    Call :meth:`check` first: it raises a one-line TunelabError for anything a
    user can get wrong and creates the study, so that workers never race to.
    Then each of :meth:`jobs` runs in its own spawned process (no database
    client is inherited); :meth:`counts` may be called from the parent at any
    time while they run, :meth:`report` when they are done.
    """

    study_name: str
    n_trials: int | None  # None: the budget is a timeout (or the grid's size)

    @abstractmethod
    def check(self, workers: int) -> None:
        """Everything that can be checked before a worker starts; creates (or loads) the study."""

    @abstractmethod
    def jobs(self, workers: int) -> list[Job]:
        """One ``(function, *args)`` per worker process; each function returns how many trials it ran."""

    @abstractmethod
    def counts(self) -> TrialCounts:
        """The study's trials by state, now."""

    @abstractmethod
    def report(self) -> StudyReport:
        """The study's trials, for tables, exports, dashboards and stacking."""


def job(function: Callable[..., int], *args: Any) -> Job:
    return (function, *args)
