"""One trial of a search, whatever the engine: a tracked Sacred run of the experiment.

The run's config is the trial's parameters over the experiment's defaults; its
info holds ``study``, ``trial`` and ``engine`` so Omniboard and the dashboards
can group a study's runs. A pruned trial's run ends with status ``PRUNED``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sacred.observers import RunObserver
from sacred.utils import SacredInterrupt

from tunelab.settings import Settings
from tunelab.tracking.observers import in_background
from tunelab.tracking.runner import RunOutcome, StepListener, execute, prepare_run
from tunelab.tuning.spec import SearchSpec


class TrialPruned(SacredInterrupt):
    """Raised from a step listener: Sacred records the run as PRUNED, not FAILED."""

    STATUS = "PRUNED"


class RunLink:
    """A trial's link to its run (``write(run_id)``, e.g. its ``sacred_run_id``): written in the background
    once the run has an id (:meth:`start`); :meth:`settle` waits for it before the study is told, and
    writes it again if the run then moved off an id a stock Sacred run took."""

    def __init__(self, write: Callable[[Any], None]) -> None:
        self._write = write
        self.run_id: Any = None
        self._writing: Future | None = None

    def start(self, run_id: Any) -> None:
        self.run_id = run_id
        self._writing = in_background(self._write, run_id)

    def settle(self, run_id: Any) -> None:
        """Wait for the link; ``run_id`` is the id the run ended under."""
        if self._writing is None:
            return
        self._writing.result()
        if run_id not in (None, self.run_id):
            self._write(run_id)


class _RunStarted(RunObserver):
    """Starts a trial's :class:`RunLink` as soon as the run starts."""

    priority = -100  # after the MongoObserver, which assigns the id

    def __init__(self, link: RunLink) -> None:
        self.link = link

    def started_event(self, ex_info, command, host_info, start_time, config, meta_info, _id):
        self.link.start(_id)
        return _id


@dataclass(frozen=True)
class TrialResult:
    outcome: RunOutcome
    values: list[float] | None  # the objective values, when the run completed and logged them
    error: str | None = None


def run_trial(
    settings: Settings,
    spec: SearchSpec,
    params: Mapping[str, Any],
    info: Mapping[str, Any],
    on_started: Callable[[Any], None],
    on_step: StepListener | None = None,
) -> TrialResult:
    """Run the experiment with ``params`` as a Sacred run and read the objective values off it.

    The run's info gets ``objective`` (metrics, directions) and ``params`` (the
    searched keys) besides ``info``, so dashboards can rebuild the study from runs.

    ``on_started`` gets the run id when the run starts; ``on_step`` sees every
    logged value and may raise :class:`TrialPruned`.
    """
    label = f"{spec.source} (trial {info['trial']})"
    info = {**info, "objective": {"metrics": spec.metrics, "directions": spec.directions}, "params": sorted(params)}
    request = prepare_run(settings, spec.experiment, updates={label: {**spec.fixed, **params}}, info=info)
    last: dict[str, float] = {}

    def listen(name: str, value: float, step: int | None) -> None:
        last[name] = value
        if on_step is not None:
            on_step(name, value, step)

    link = RunLink(on_started)
    outcome = execute(settings, request, observers=[_RunStarted(link)], on_step=listen)
    link.settle(outcome.run_id)
    if outcome.status != "COMPLETED":
        return TrialResult(outcome, None, outcome.error)
    values = [outcome.result if metric == "result" else last.get(metric) for metric in spec.metrics]
    for metric, value in zip(spec.metrics, values, strict=False):
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return TrialResult(outcome, None, f"metric {metric!r} is {value!r}, not a finite number")
    return TrialResult(outcome, [float(v) for v in values])
