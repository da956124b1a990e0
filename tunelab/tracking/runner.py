"""Running one tracked experiment: validate everything first, then let Sacred run it."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sacred.observers import RunObserver
from sacred.utils import SacredInterrupt

from tunelab.data.declarations import check_dataset_key
from tunelab.settings import Settings
from tunelab.tracking.config import load_config, merge, parse_overrides, validate
from tunelab.tracking.observers import tracking_observers
from tunelab.tracking.registry import load_experiment


@dataclass(frozen=True)
class RunRequest:
    """A validated request: ``config`` is what the run will see (defaults, file, overrides merged)."""

    experiment: str
    config_file: str | None
    overrides: Mapping[str, Any]
    config: Mapping[str, Any]
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Identifies the work: the experiment and its full config (used to resume batches)."""
        payload = json.dumps([self.experiment, self.config], sort_keys=True, default=str)
        return hashlib.sha1(payload.encode()).hexdigest()


@dataclass(frozen=True)
class RunOutcome:
    experiment: str
    config_file: str | None
    run_id: int | str | None
    status: str  # COMPLETED, FAILED, INTERRUPTED, a SacredInterrupt's STATUS, or SKIPPED (not started)
    result: Any = None
    duration_s: float = 0.0
    error: str | None = None


def prepare_run(
    settings: Settings,
    experiment: str,
    config_file: Path | None = None,
    assignments: Sequence[str] = (),
    info: Mapping[str, Any] | None = None,
    updates: Mapping[str, Mapping[str, Any]] | None = None,
) -> RunRequest:
    """Load and validate a run's config without touching the database.

    ``updates`` maps a label (named in errors) to config values applied after
    ``config_file`` and before the ``KEY=VALUE`` ``assignments``.
    Raises TunelabError naming the file, key or override at fault.
    """
    ex = load_experiment(settings.experiments_dir, experiment)
    sources = {str(ex.defaults_file): load_config(ex.defaults_file)}
    if config_file is not None:
        sources[str(config_file)] = load_config(config_file)
    sources.update(updates or {})
    sources.update({f"--set {a}": parse_overrides([a]) for a in assignments})
    config = validate(ex.schema, sources)
    origin = next((label for label, values in reversed(sources.items()) if "dataset" in values), "config")
    check_dataset_key(settings, config, origin)
    overrides: dict[str, Any] = {}
    for values in (*(updates or {}).values(), parse_overrides(assignments)):
        overrides = merge(overrides, values)
    return RunRequest(
        experiment=experiment,
        config_file=str(config_file) if config_file is not None else None,
        overrides=overrides,
        config=config,
        info=dict(info or {}),
    )


StepListener = Callable[[str, float, int | None], None]


def execute(
    settings: Settings,
    request: RunRequest,
    offline: bool = False,
    observers: Sequence[RunObserver] = (),
    on_step: StepListener | None = None,
    queued_run: Mapping[str, Any] | None = None,
) -> RunOutcome:
    """Run a prepared request as a Sacred run; failures of the run become the outcome.

    ``observers`` watch the run besides tunelab's own; ``on_step`` is called
    with every ``log_scalar`` as it happens and may raise a SacredInterrupt,
    whose ``STATUS`` becomes the run's status. With ``queued_run`` (a claimed
    QUEUED run's document) the run is recorded as that run.
    The database is checked before the run starts (TunelabError if unreachable).
    Ctrl-C during the run gives an INTERRUPTED outcome, as Sacred records it.
    """
    ex = load_experiment(settings.experiments_dir, request.experiment)
    observers = [
        *tracking_observers(settings, offline=offline, info=request.info, queued_run=queued_run),
        *observers,
    ]
    ex.observers.extend(observers)
    if on_step is not None:
        ex.step_listeners.append(on_step)
    started = time.perf_counter()
    try:
        run = ex.run(
            config_updates=dict(request.overrides),
            named_configs=[request.config_file] if request.config_file else (),
            info=dict(request.info),
        )
        return _outcome(request, run._id, "COMPLETED", started, result=run.result)
    except (KeyboardInterrupt, SacredInterrupt) as exc:
        status = getattr(exc, "STATUS", "INTERRUPTED")
        return _outcome(request, _current_id(ex), status, started)
    except Exception as exc:  # the run failed; Sacred has recorded it as FAILED
        return _outcome(request, _current_id(ex), "FAILED", started, error=f"{type(exc).__name__}: {exc}")
    finally:
        for observer in observers:
            ex.observers.remove(observer)
        if on_step is not None:
            ex.step_listeners.remove(on_step)


def _current_id(ex) -> int | str | None:
    return ex.current_run._id if ex.current_run is not None else None


def _outcome(request: RunRequest, run_id, status: str, started: float, **extra) -> RunOutcome:
    return RunOutcome(
        experiment=request.experiment,
        config_file=request.config_file,
        run_id=run_id,
        status=status,
        duration_s=time.perf_counter() - started,
        **extra,
    )
