"""Search specs: the JSON files in ``configs/search/`` that say what to tune and how.

A spec names the experiment, the metric and its direction, the search space,
the engine (``optuna`` or ``keras-tuner``) with its algorithm, the budget and
the study name. :func:`load_search_spec` checks all of it before anything runs
and raises a one-line :class:`~tunelab.errors.TunelabError` naming the file and
the key at fault.

Example::

    {
      "experiment": "svm",
      "metric": "test_accuracy", "direction": "maximize",
      "engine": "optuna", "algorithm": "tpe",
      "space": {
        "C": {"type": "float", "low": 0.01, "high": 100, "log": true},
        "kernel": {"type": "categorical", "choices": ["rbf", "sigmoid"]},
        "test_size": 0.2
      },
      "budget": {"n_trials": 30}
    }

A parameter given as a plain value is fixed. ``metric`` is a metric the
experiment logs with ``log_scalar`` (its last value counts) or ``result``, the
run's return value; two metrics (with two directions) make a multi-objective
search.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from tunelab.errors import TunelabError
from tunelab.settings import Settings
from tunelab.tracking.config import Strict, load_config, parse_spec, validate
from tunelab.tracking.registry import load_experiment

Scalar = bool | int | float | str | None
Direction = Literal["maximize", "minimize"]

OPTUNA_ALGORITHMS = ("tpe", "cmaes", "random", "grid", "nsga2", "gp")
KERAS_TUNER_ALGORITHMS = ("random", "hyperband", "bayesian")
PRUNERS = ("none", "median", "successive_halving", "hyperband")
PARAM_TYPES = ("float", "int", "categorical", "fixed")
MAX_GRID_POINTS = 1_000_000  # a grid is built in memory: a tiny step must be refused, not enumerated


class FloatParam(Strict):
    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    step: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _check_range(self) -> Self:
        _check_range(self.low, self.high, self.log, self.step)
        return self


class IntParam(Strict):
    type: Literal["int"]
    low: int
    high: int
    log: bool = False
    step: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _check_range(self) -> Self:
        _check_range(self.low, self.high, self.log, self.step if self.step != 1 else None)
        return self


class CategoricalParam(Strict):
    type: Literal["categorical"]
    choices: list[Scalar] = Field(min_length=1)


class FixedParam(Strict):
    type: Literal["fixed"]
    value: Any


Param = Annotated[FloatParam | IntParam | CategoricalParam | FixedParam, Field(discriminator="type")]


def _check_range(low: float, high: float, log: bool, step: float | None) -> None:
    if low >= high:
        raise ValueError(f"low ({low}) must be below high ({high})")
    if log and low <= 0:
        raise ValueError(f"a log scale needs low > 0, got low={low}")
    if log and step is not None:
        raise ValueError("log and step cannot be combined")


class PrunerSpec(Strict):
    """An Optuna pruner: its name and keyword arguments (e.g. ``n_warmup_steps``)."""

    name: Literal[PRUNERS]
    options: dict[str, Any] = {}


class Budget(Strict):
    n_trials: int | None = Field(default=None, ge=1)
    timeout: float | None = Field(default=None, gt=0, description="seconds, per tunelab tune command")
    max_epochs: int | None = Field(default=None, ge=1, description="Hyperband's largest resource")
    factor: int = Field(default=3, ge=2, description="Hyperband's reduction factor")


class _SearchSettings(Strict):
    """What every Optuna search has, whatever defines its space: the study, sampler, pruner and budget."""

    study_name: str = Field(default="", pattern=r"^[A-Za-z0-9_.-]*$")
    algorithm: str = "tpe"
    algorithm_options: dict[str, Any] = {}
    direction: Direction | list[Direction] = "maximize"
    pruner: PrunerSpec = PrunerSpec(name="none")
    budget: Budget = Budget()
    seed: int | None = None
    source: str = Field(default="", exclude=True)

    @property
    def directions(self) -> list[str]:
        return [self.direction] if isinstance(self.direction, str) else list(self.direction)


class ObjectiveSpec(_SearchSettings):
    """A search of a user's own ``objective(trial)``: ``"objective": "FILE.py:FUNCTION"``.

    The function defines its space as it runs (define-by-run), so there is no
    ``space``; its return value (one number per direction) is the objective.
    """

    objective: str = Field(pattern=r"^.+\.py:[A-Za-z_][A-Za-z0-9_]*$")
    experiment: str = ""  # defaults to the function's name

    @model_validator(mode="after")
    def _check_combination(self) -> Self:
        if self.algorithm not in OPTUNA_ALGORITHMS or self.algorithm == "grid":
            known = ", ".join(a for a in OPTUNA_ALGORITHMS if a != "grid")
            raise ValueError(f"algorithm: unknown algorithm {self.algorithm!r} for an objective (known: {known})")
        if len(self.directions) > 1 and self.pruner.name != "none":
            raise ValueError("pruner: Optuna cannot prune a multi-objective search")
        if len(self.directions) > 1 and self.algorithm in ("cmaes", "gp"):
            raise ValueError(f"algorithm: {self.algorithm} cannot search several objectives")
        if self.budget.n_trials is None and self.budget.timeout is None:
            raise ValueError("budget: give n_trials or timeout")
        return self

    @property
    def metrics(self) -> list[str]:
        """``result`` (the return value); ``result_0``, ``result_1``… for several objectives."""
        return ["result"] if len(self.directions) == 1 else [f"result_{i}" for i in range(len(self.directions))]

    @property
    def n_trials(self) -> int | None:
        return self.budget.n_trials


class SearchSpec(_SearchSettings):
    """A validated search spec (see the module docstring)."""

    experiment: str
    engine: Literal["optuna", "keras-tuner"] = "optuna"
    metric: str | list[str]
    resource: str = Field(default="epochs", description="the config key Hyperband sets (epochs)")
    space: dict[str, Param] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _plain_values_are_fixed(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("space"), dict):
            data = {
                **data,
                "space": {
                    key: value if isinstance(value, dict) and "type" in value else {"type": "fixed", "value": value}
                    for key, value in data["space"].items()
                },
            }
        return data

    @model_validator(mode="after")
    def _check_combination(self) -> Self:
        algorithms = OPTUNA_ALGORITHMS if self.engine == "optuna" else KERAS_TUNER_ALGORITHMS
        if self.algorithm not in algorithms:
            raise ValueError(
                f"algorithm: unknown {self.engine} algorithm {self.algorithm!r} (known: {', '.join(algorithms)})"
            )
        if len(self.metrics) != len(self.directions):
            raise ValueError(f"direction: {len(self.metrics)} metric(s) need as many directions")
        if len(self.metrics) > 2 or (len(self.metrics) == 2 and self.algorithm not in ("nsga2", "random", "tpe")):
            raise ValueError("metric: two objectives need algorithm nsga2, tpe or random (optuna engine)")
        if len(self.metrics) == 2 and self.pruner.name != "none":
            raise ValueError("pruner: Optuna cannot prune a multi-objective search")
        if self.engine == "keras-tuner" and self.pruner.name != "none":
            raise ValueError("pruner: keras-tuner prunes with algorithm hyperband, not with a pruner")
        if self.engine == "keras-tuner" and len(self.metrics) == 2:
            raise ValueError("metric: keras-tuner searches have one objective")
        if self.algorithm == "hyperband" and self.budget.max_epochs is None:
            raise ValueError("budget.max_epochs: keras-tuner's hyperband needs it")
        if self.algorithm == "grid":
            discrete = [k for k, p in self.params.items() if isinstance(p, FloatParam) and p.step is None]
            if discrete:
                raise ValueError(f"space.{discrete[0]}: a grid search needs a step (or choices) for every float")
            size = grid_size(self)
            if size > MAX_GRID_POINTS:
                raise ValueError(
                    f"space: the grid has {size:.3g} points, more than {MAX_GRID_POINTS:,}: use larger steps"
                )
        if self.budget.n_trials is None and self.budget.timeout is None and self.algorithm not in ("grid", "hyperband"):
            raise ValueError("budget: give n_trials or timeout")
        return self

    @property
    def metrics(self) -> list[str]:
        return [self.metric] if isinstance(self.metric, str) else list(self.metric)

    @property
    def params(self) -> dict[str, FloatParam | IntParam | CategoricalParam]:
        """The parameters that are searched (fixed ones left out)."""
        return {k: p for k, p in self.space.items() if not isinstance(p, FixedParam)}

    @property
    def fixed(self) -> dict[str, Any]:
        return {k: p.value for k, p in self.space.items() if isinstance(p, FixedParam)}

    @property
    def n_trials(self) -> int | None:
        """The trial budget; a grid search's defaults to (and never exceeds) the grid's size."""
        if self.algorithm == "grid":
            size = grid_size(self)
            return min(self.budget.n_trials or size, size)
        return self.budget.n_trials


def grid_size(spec: SearchSpec) -> int:
    """How many points a grid search's grid has, counted without building it."""
    return math.prod(len(p.choices) if isinstance(p, CategoricalParam) else _steps(p) for p in spec.params.values())


def _steps(param: FloatParam | IntParam) -> int:
    return int(round((param.high - param.low) / param.step)) + 1


def grid_values(spec: SearchSpec) -> dict[str, list[Any]]:
    """Every value each searched parameter takes in a grid search."""
    values: dict[str, list[Any]] = {}
    for name, param in spec.params.items():
        if isinstance(param, CategoricalParam):
            values[name] = list(param.choices)
        else:
            count = _steps(param)
            values[name] = [
                param.low + i * param.step for i in range(count) if param.low + i * param.step <= param.high
            ]
    return values


def load_search_spec(settings: Settings, path: Path) -> SearchSpec | ObjectiveSpec:
    """Read and check ``path``: the spec itself, then every bound and choice against the experiment.

    A spec with an ``objective`` key is an :class:`ObjectiveSpec` (its
    ``FILE.py`` relative to the project directory). Raises TunelabError
    ``"<path>: key 'space.C.low': <why>"``.
    """
    raw = load_config(path)
    model = ObjectiveSpec if isinstance(raw, dict) and "objective" in raw else SearchSpec
    spec = parse_spec(raw, str(path), model, PARAM_TYPES, extra={"source": str(path)})
    if not spec.study_name:
        spec = spec.model_copy(update={"study_name": path.stem})
    if isinstance(spec, ObjectiveSpec):
        return spec
    _check_against_experiment(settings, spec, path)
    return spec


def objective_spec(ref: str, **fields: Any) -> ObjectiveSpec:
    """An :class:`ObjectiveSpec` from ``tunelab tune FILE.py:FUNCTION`` options (``None`` ones left out).

    ``study_name`` defaults to the function's name. Raises TunelabError naming the option at fault.
    """
    given = {key: value for key, value in fields.items() if value is not None}
    given.setdefault("study_name", ref.rpartition(":")[2])
    return parse_spec(given, ref, ObjectiveSpec, PARAM_TYPES, extra={"objective": ref, "source": ref})


def _check_against_experiment(settings: Settings, spec: SearchSpec, path: Path) -> None:
    """Every value the space can produce must be a valid config for the experiment."""
    try:
        ex = load_experiment(settings.experiments_dir, spec.experiment)
    except TunelabError as exc:
        raise TunelabError(f"{path}: key 'experiment': {exc}") from None
    defaults = load_config(ex.defaults_file)
    validate(ex.schema, {str(ex.defaults_file): defaults, f"{path}: space": spec.fixed})
    for name, param in spec.params.items():
        if name not in ex.schema.model_fields:
            raise TunelabError(
                f"{path}: key 'space.{name}': {spec.experiment} has no such config key "
                f"(known: {', '.join(ex.schema.model_fields)})"
            )
        for value in _corner_values(param):
            validate(ex.schema, {str(ex.defaults_file): defaults, f"{path}: space": {**spec.fixed, name: value}})
    if spec.algorithm == "hyperband" and spec.resource not in ex.schema.model_fields:
        raise TunelabError(f"{path}: key 'resource': {spec.experiment} has no config key {spec.resource!r}")


def _corner_values(param: FloatParam | IntParam | CategoricalParam) -> list[Any]:
    if isinstance(param, CategoricalParam):
        return list(param.choices)
    return [param.low, param.high]
