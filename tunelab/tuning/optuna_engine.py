"""The Optuna engine: worker processes that claim trials from a shared study and run them.

Each worker loops: under the storage's budget lock it fails stale trials (their
worker died), counts the study's trials and claims the next one with
``study.ask()``; it then runs the trial as a Sacred run while a heartbeat
thread stamps the trial, and tells Optuna the outcome. The budget lock makes
any number of workers, on any number of machines, finish exactly ``n_trials``.

A trial whose heartbeat stops (``kill -9``, a lost machine) is failed by the
next worker to look, its Sacred run is marked FAILED, and Optuna's
``RetryHeartbeatStaleTrialCallback`` queues it once more with the same
parameters. Re-running ``tunelab tune`` therefore continues a study where it stopped.

:class:`OptunaSearch` is what the JSON-spec engine (:class:`SpecSearch`) and
the objective engine (:mod:`~tunelab.tuning.objectives`) share; :func:`work`
is the loop both run, each with its own way to run one trial.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from tunelab import db
from tunelab.errors import TunelabError
from tunelab.settings import Settings
from tunelab.tracking import worker_process
from tunelab.tracking.beats import Beats
from tunelab.tracking.liveness import fail_dead_runs
from tunelab.tracking.observers import final_saves_in_background
from tunelab.tuning.engines import Job, SearchEngine, TrialCounts, job
from tunelab.tuning.pruners import make_pruner
from tunelab.tuning.reports import StudyReport, TrialRow
from tunelab.tuning.samplers import make_sampler
from tunelab.tuning.spec import CategoricalParam, FloatParam, ObjectiveSpec, SearchSpec
from tunelab.tuning.storages import StudyStorage, open_storage
from tunelab.tuning.trials import TrialPruned, run_trial

HEARTBEAT_INTERVAL_S = 1.0
STALE_AFTER_S = 6.0  # a trial silent this long has lost its worker
HEARTBEAT_ATTR = "tunelab:heartbeat"
RUN_ID_ATTR = "sacred_run_id"
MOVED_RUN_ATTR = "tunelab:run_moved:"  # + a trial's sacred_run_id: the study's note of the id its run landed under
MAX_CONSECUTIVE_FAILURES = 3
_POLL_S = 0.5
_WAIT = "wait"
_TRIAL_BEATS = Beats("trial-heartbeats")  # apart from Sacred's: a slow run save must not stop these

optuna.logging.set_verbosity(optuna.logging.WARNING)


def count_trials(trials: optuna.Study | list[optuna.trial.FrozenTrial]) -> TrialCounts:
    """Trials by state, of a study or of a list of its trials."""
    if isinstance(trials, optuna.Study):
        trials = trials.get_trials(deepcopy=False)
    return TrialCounts.of(t.state for t in trials)


class OptunaSearch(SearchEngine):
    """What both Optuna engines share: a study in a :class:`StudyStorage`, its counts and its report.

    Subclasses give :attr:`attrs` (the study's user attributes) and :meth:`jobs`.
    """

    engine = "optuna"

    def __init__(self, settings: Settings, spec: SearchSpec | ObjectiveSpec, storage_url: str | None) -> None:
        self.settings = settings
        self.spec = spec
        self.storage_url = storage_url
        self.study_name = spec.study_name
        self.n_trials = spec.n_trials
        self._study: optuna.Study | None = None

    @property
    def attrs(self) -> dict[str, Any]:
        return {"experiment": self.spec.experiment, "engine": self.engine, "metrics": self.spec.metrics}

    def check(self, workers: int) -> None:
        make_sampler(self.spec, self.spec.seed)
        make_pruner(self.spec)
        storage = open_storage(self.settings, self.storage_url)
        db.mongo_url(self.settings)
        self._study = open_study(self.spec, storage, attrs=self.attrs)  # once, before the workers race to

    def counts(self) -> TrialCounts:
        return count_trials(self._opened())

    def report(self) -> StudyReport:
        return optuna_report(self._opened())

    def _opened(self) -> optuna.Study:
        if self._study is None:
            raise RuntimeError("check() the search first")
        return self._study


class SpecSearch(OptunaSearch):
    """The JSON-spec Optuna engine: each trial runs the spec's experiment with the suggested values."""

    @property
    def attrs(self) -> dict[str, Any]:
        return {**super().attrs, "search_spec": self.spec.source}

    def jobs(self, workers: int) -> list[Job]:
        return [job(run_worker, self.settings, self.spec, self.storage_url, i) for i in range(workers)]


def open_study(spec: SearchSpec | ObjectiveSpec, storage: StudyStorage, attrs: Mapping[str, Any] = {}) -> optuna.Study:
    """Create the study or load it, with an unseeded sampler (a worker seeds its own: :func:`worker_seed`)
    and the spec's pruner; a new study gets ``attrs``."""
    try:
        study = optuna.create_study(
            study_name=spec.study_name,
            storage=storage.optuna,
            sampler=make_sampler(spec, None),
            pruner=make_pruner(spec),
            directions=spec.directions,
            load_if_exists=True,
        )
    except ValueError as exc:
        raise TunelabError(f"study {spec.study_name!r} in {storage}: {exc}") from None
    if [d.name.lower() for d in study.directions] != spec.directions:
        raise TunelabError(
            f"{spec.source}: study {spec.study_name!r} already exists in {storage} with "
            f"direction(s) {[d.name.lower() for d in study.directions]}; give the search another study name"
        )
    if attrs and "experiment" not in study.user_attrs:
        for key, value in attrs.items():
            study.set_user_attr(key, value)
    return study


RunAndTell = Callable[[optuna.Study, optuna.Trial], "str | None"]


def run_worker(settings: Settings, spec: SearchSpec, storage_url: str | None, worker_index: int) -> int:
    """A JSON-spec worker (see :func:`work`)."""
    return work(settings, spec, storage_url, worker_index, functools.partial(_run_and_tell, settings, spec))


def work(
    settings: Settings,
    spec: SearchSpec | ObjectiveSpec,
    storage_url: str | None,
    worker_index: int,
    run_and_tell: RunAndTell,
) -> int:
    """One worker's loop (see the module docstring); returns how many trials it ran.

    ``run_and_tell`` runs a claimed trial, tells the study its outcome and
    returns the error if it failed. Stops when the study has ``n_trials``
    finished trials, when ``budget.timeout`` has passed, on Ctrl-C, or
    (TunelabError) after three failed trials in a row.
    """
    storage = open_storage(settings, storage_url)
    study = open_study(spec, storage)
    study.sampler = make_sampler(spec, worker_seed(spec.seed, worker_index, len(study.get_trials(deepcopy=False))))
    deadline = time.monotonic() + spec.budget.timeout if spec.budget.timeout else None
    n_trials = spec.n_trials  # a grid's size is counted once, not on every claim
    ran = failures = 0
    # a trial's run lands its end while the study is told; a told trial's link can no longer change
    moved = functools.partial(_note_moved_run, study)
    with final_saves_in_background(on_moved=moved):
        while not worker_process.interrupted() and (deadline is None or time.monotonic() < deadline):
            trial = _claim_trial(settings, study, storage, n_trials)
            if trial is None:
                break
            if trial == _WAIT:
                time.sleep(_POLL_S)
                continue
            with _heartbeat(study, trial._trial_id), worker_process.run_in_progress():
                try:
                    error = run_and_tell(study, trial)
                except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
                    if not study._storage.get_trial(trial._trial_id).state.is_finished():
                        raise
                    error = None  # another worker judged the trial stale (its beats did not land) and queued its retry
            ran += 1
            failures = failures + 1 if error else 0
            if failures >= MAX_CONSECUTIVE_FAILURES:
                raise TunelabError(f"study {spec.study_name!r}: {failures} trials in a row failed; last: {error}")
    return ran


def worker_seed(seed: int | None, worker_index: int, trials_before: int) -> int | None:
    """A worker's sampler seed: ``seed + worker_index`` on a new study; on one that already holds
    ``trials_before`` trials (a re-run after a crash), one mixed from all three, so that the re-run does
    not draw the values the first run drew again."""
    if seed is None or not trials_before:
        return None if seed is None else seed + worker_index
    return int(np.random.SeedSequence([seed, worker_index, trials_before]).generate_state(1)[0])


def _note_moved_run(study: optuna.Study, old_id: Any, new_id: Any) -> None:
    """A told trial's run landed under ``new_id``, not its ``sacred_run_id``: note it in the study."""
    study.set_user_attr(f"{MOVED_RUN_ATTR}{old_id}", new_id)


def _claim_trial(
    settings: Settings, study: optuna.Study, storage: StudyStorage, n_trials: int | None
) -> optuna.Trial | str | None:
    """The next trial to run, ``_WAIT`` while running trials may still fail and free a slot, or None: done."""
    with storage.budget_lock(study.study_name):
        trials = study.get_trials(deepcopy=False)
        if fail_stale_trials(settings, study, trials):
            trials = study.get_trials(deepcopy=False)
        counts = count_trials(trials)
        if n_trials is None or counts.waiting or counts.finished + counts.running < n_trials:
            return study.ask()
    return _WAIT if counts.running else None


def _run_and_tell(settings: Settings, spec: SearchSpec, study: optuna.Study, trial: optuna.Trial) -> str | None:
    """Run one claimed trial and record its outcome in the study; returns the error if it failed."""
    params = suggest(trial, spec)
    on_step = _pruning_reporter(trial, spec.metrics[0]) if spec.pruner.name != "none" else None
    info = {"study": study.study_name, "trial": trial.number, "engine": "optuna"}
    result = run_trial(settings, spec, params, info, lambda run_id: trial.set_user_attr(RUN_ID_ATTR, run_id), on_step)
    if result.values is not None:
        study.tell(trial, result.values)
    elif result.outcome.status == TrialPruned.STATUS:
        study.tell(trial, state=TrialState.PRUNED)
    else:
        trial.set_user_attr("error", result.error or result.outcome.status)
        study.tell(trial, state=TrialState.FAIL)
        return result.error or result.outcome.status
    return None


def suggest(trial: optuna.Trial, spec: SearchSpec) -> dict[str, Any]:
    """The trial's value for every searched parameter (a retried trial gets its old ones back)."""
    params: dict[str, Any] = {}
    for name, param in spec.params.items():
        if isinstance(param, CategoricalParam):
            params[name] = trial.suggest_categorical(name, param.choices)
        elif isinstance(param, FloatParam):
            params[name] = trial.suggest_float(name, param.low, param.high, log=param.log, step=param.step)
        else:
            params[name] = trial.suggest_int(name, param.low, param.high, log=param.log, step=param.step)
    return params


def _pruning_reporter(trial: optuna.Trial, metric: str) -> Callable[[str, float, int | None], None]:
    def report(name: str, value: float, step: int | None) -> None:
        if name == metric and step is not None:
            trial.report(value, step)
            if trial.should_prune():
                raise TrialPruned(f"pruned at step {step}")

    return report


@contextmanager
def _heartbeat(study: optuna.Study, trial_id: int) -> Iterator[None]:
    """Stamps the trial every HEARTBEAT_INTERVAL_S while the block runs (its start counts as the first)."""
    storage = study._storage  # the public Trial API cannot write system attributes

    def beat() -> None:
        with contextlib.suppress(Exception):  # finished meanwhile, or storage unreachable: beat again next time
            storage.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())

    token = _TRIAL_BEATS.start(HEARTBEAT_INTERVAL_S, beat)
    try:
        yield
    finally:
        _TRIAL_BEATS.stop(token)


def fail_stale_trials(settings: Settings, study: optuna.Study, trials: list[optuna.trial.FrozenTrial]) -> list[int]:
    """Fail RUNNING ``trials`` whose heartbeat stopped, mark their Sacred runs FAILED, retry each once.

    Call it under the budget lock, so that only one worker fails (and retries) a trial.
    A trial is stale when its latest sign of life (its last beat, or its start: a
    retried trial starts with no beat) is older than STALE_AFTER_S. A trial that
    finished meanwhile (its worker tells without the lock) is left alone.
    Returns the failed trials' numbers.
    """
    now = time.time()
    stale = [t for t in trials if t.state == TrialState.RUNNING and now - _last_sign_of_life(t) > STALE_AFTER_S]
    if not stale:
        return []
    runs = db.connect(settings)["runs"]
    retry = RetryHeartbeatStaleTrialCallback(max_retry=1)
    failed = []
    for trial in stale:
        try:
            study.tell(trial.number, state=TrialState.FAIL)
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
            continue  # it finished between our reading and our tell
        reason = f"worker lost: trial {trial.number} of study {study.study_name} stopped beating"
        fail_dead_runs(runs, {"info.study": study.study_name, "info.trial": trial.number}, 0, reason)
        trial.system_attrs = {k: v for k, v in trial.system_attrs.items() if k != HEARTBEAT_ATTR}
        trial.user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in (RUN_ID_ATTR, "error")}
        retry(study, trial)
        failed.append(trial.number)
    return failed


def _last_sign_of_life(trial: optuna.trial.FrozenTrial) -> float:
    return max(trial.system_attrs.get(HEARTBEAT_ATTR, 0.0), trial.datetime_start.timestamp())


def optuna_report(study: optuna.Study) -> StudyReport:
    """A study's trials with their Sacred run ids, whichever Optuna engine (or a user's own loop) ran it."""
    attrs = study.user_attrs
    trials = [
        TrialRow(
            number=t.number,
            state=t.state.name,
            values=t.values,
            params=t.params,
            run_id=_run_id(t, attrs),
            duration_s=t.duration.total_seconds() if t.duration else None,
        )
        for t in study.get_trials(deepcopy=False)
    ]
    return StudyReport(
        name=study.study_name,
        engine=attrs.get("engine", "optuna"),
        experiment=attrs.get("experiment", "?"),
        metrics=attrs.get("metrics", [f"objective {i}" for i in range(len(study.directions))]),
        directions=[d.name.lower() for d in study.directions],
        trials=trials,
    )


def _run_id(trial: optuna.trial.FrozenTrial, study_attrs: Mapping[str, Any]) -> Any:
    """The trial's run: its ``sacred_run_id``, unless the study noted that the run landed under another id."""
    linked = trial.user_attrs.get(RUN_ID_ATTR)
    return study_attrs.get(f"{MOVED_RUN_ATTR}{linked}", linked)


def stored_studies(settings: Settings, storage_url: str | None) -> dict[str, Callable[[], StudyReport]]:
    """Every study in the Optuna storage, by name, with how to read its report."""
    storage = open_storage(settings, storage_url)
    return {
        name: lambda name=name: optuna_report(optuna.load_study(study_name=name, storage=storage.optuna))
        for name in optuna.get_all_study_names(storage.optuna)
    }
