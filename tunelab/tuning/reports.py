"""What a study looks like once read back, whatever engine ran it: its trials and their runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str  # one of STATES
    values: list[float] | None
    params: dict[str, Any]
    run_id: Any = None
    duration_s: float | None = None


@dataclass(frozen=True)
class StudyReport:
    name: str
    engine: str
    experiment: str
    metrics: list[str]
    directions: list[str]
    trials: list[TrialRow] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        states = [t.state for t in self.trials]
        return {state: states.count(state) for state in STATES}

    def ranked(self) -> list[TrialRow]:
        """Complete trials, best first by the first objective."""
        done = [t for t in self.trials if t.state == "COMPLETE" and t.values]
        return sorted(done, key=lambda t: t.values[0], reverse=self.directions[0] == "maximize")

    def best(self) -> TrialRow | None:
        ranked = self.ranked()
        return ranked[0] if ranked else None
