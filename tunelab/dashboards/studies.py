"""Studies rebuilt from their trial runs, so one code path draws Optuna and Keras Tuner studies alike.

Every trial run carries ``info.study``, ``info.trial``, ``info.objective``
(metrics, directions) and ``info.params`` (the searched keys). From them an
in-memory Optuna study is built, and Optuna's own plotly figures are drawn
from it; the query that picked the runs picks the trials too. Parameter
ranges are the observed ones (the spec's bounds are not recorded).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from tunelab.board.columns import summary_key
from tunelab.tuning.states import run_state


@dataclass(frozen=True)
class StudyRuns:
    name: str
    engine: str
    experiment: str
    metrics: list[str]
    directions: list[str]
    params: list[str]
    runs: list[dict]  # by trial number

    def counts(self) -> dict[str, int]:
        statuses = [run["status"] for run in self.runs]
        return {
            status: statuses.count(status) for status in ("COMPLETED", "PRUNED", "FAILED", "INTERRUPTED", "RUNNING")
        }

    def objective(self, run: dict) -> list[float] | None:
        """The run's objective values, if it completed and recorded them all."""
        if run["status"] != "COMPLETED":
            return None
        summary = run.get("info", {}).get("summary", {})
        values = [
            run.get("result") if m == "result" else summary.get(summary_key(m), {}).get("last") for m in self.metrics
        ]
        if all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            return [float(v) for v in values]
        return None

    def best(self) -> tuple[dict, float] | None:
        scored = [(run, values[0]) for run in self.runs if (values := self.objective(run))]
        if not scored:
            return None
        pick = max if self.directions[0] == "maximize" else min
        return pick(scored, key=lambda pair: pair[1])


def group_studies(runs: Sequence[dict]) -> list[StudyRuns]:
    """The studies the runs belong to (runs without ``info.study`` are left out), by name."""
    by_study: dict[str, list[dict]] = defaultdict(list)
    for run in runs:
        study = run.get("info", {}).get("study")
        if study:
            by_study[study].append(run)
    return [
        _study(name, sorted(members, key=lambda r: r["info"].get("trial", 0)))
        for name, members in sorted(by_study.items())
    ]


def _study(name: str, runs: list[dict]) -> StudyRuns:
    latest = runs[-1]["info"]
    objective = latest.get("objective") or {"metrics": ["result"], "directions": ["maximize"]}
    params = sorted({p for run in runs for p in run["info"].get("params", [])}) or _varying_keys(runs)
    return StudyRuns(
        name=name,
        engine=latest.get("engine", "?"),
        experiment=runs[-1]["experiment"]["name"],
        metrics=objective["metrics"],
        directions=objective["directions"],
        params=params,
        runs=runs,
    )


def _varying_keys(runs: list[dict]) -> list[str]:
    """Config keys whose value differs between runs (what a search varied, for runs that did not say)."""
    keys = {k for run in runs for k, v in run.get("config", {}).items() if not isinstance(v, (dict, list))}
    return sorted(k for k in keys - {"seed"} if len({repr(r.get("config", {}).get(k)) for r in runs}) > 1)


def to_optuna(study: StudyRuns) -> optuna.Study:
    """An in-memory Optuna study holding one finished trial per finished run."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rebuilt = optuna.create_study(study_name=study.name, directions=study.directions)
    distributions = _distributions(study)
    for run in study.runs:
        state = run_state(run["status"])
        values = study.objective(run)
        if state is None or (state == TrialState.COMPLETE and values is None):
            continue
        config = run.get("config", {})
        params = {p: config[p] for p in distributions if p in config}
        rebuilt.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions={p: distributions[p] for p in params},
                values=values if state == TrialState.COMPLETE else None,
                state=state,
                user_attrs={"run_id": run["_id"]},
            )
        )
    return rebuilt


def _distributions(study: StudyRuns) -> dict[str, BaseDistribution]:
    """Each searched parameter's observed range: ints and floats as ranges (log when they span 100×), else choices."""
    distributions: dict[str, BaseDistribution] = {}
    for param in study.params:
        seen = [run["config"][param] for run in study.runs if param in run.get("config", {})]
        if not seen:
            continue
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in seen)
        if numbers and all(isinstance(v, int) for v in seen):
            distributions[param] = IntDistribution(min(seen), max(seen))
        elif numbers:
            low, high = float(min(seen)), float(max(seen))
            distributions[param] = FloatDistribution(low, high, log=low > 0 and high / low >= 100)
        else:
            distributions[param] = CategoricalDistribution(sorted(set(seen), key=repr))
    return distributions


def budgets(study: StudyRuns) -> list[tuple[int, int, str]]:
    """(trial, steps it ran, status) per run: the budget Hyperband or a pruner gave each trial."""
    return [(run["info"].get("trial", 0), steps_run(run), run["status"]) for run in study.runs]


def steps_run(run: dict) -> int:
    """How many steps the run logged: the most of any metric (0 if it logged none)."""
    return max((values.get("steps", 0) for values in run.get("info", {}).get("summary", {}).values()), default=0)
