"""Search specs for a hypermodel of one's own: ``tunelab tune`` drives the drop-in tuners from JSON.

Example (``configs/search/book_keras_tuner.json``)::

    {
      "hypermodel": "hypermodels/book.py:build_model",
      "data": "hypermodels/book.py:load",
      "algorithm": "random",
      "metric": "val_accuracy", "direction": "maximize",
      "algorithm_options": {"executions_per_trial": 2},
      "fit": {"epochs": 3},
      "budget": {"n_trials": 3}
    }

``hypermodel`` is ``FILE.py:NAME`` (relative to the project directory): a
``build(hp)`` function, a ``keras_tuner.HyperModel`` subclass (built without
arguments) or instance. ``data`` is ``FILE.py:NAME`` of a function without
arguments that returns the data keyword arguments of ``search()`` as a dict
(``x``, ``y``, ``validation_data``...). ``fit`` holds the other ``search()``
keyword arguments (``epochs``, ``batch_size``); ``algorithm_options`` the other
arguments of the tuner class (``executions_per_trial``, ``max_retries_per_trial``).
Hyperband needs ``budget.max_epochs`` (and takes ``budget.factor``); the others
``budget.n_trials``. The study is named after the spec file unless ``study_name`` says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from tunelab.errors import TunelabError
from tunelab.settings import Settings
from tunelab.tracking.config import Strict, load_config, load_spec
from tunelab.tuning.spec import KERAS_TUNER_ALGORITHMS, Budget, Direction, SearchSpec

REFERENCE = r"^[^:]+\.py:[A-Za-z_][A-Za-z0-9_]*$"


class HypermodelSpec(Strict):
    """A validated hypermodel search spec (see the module docstring)."""

    hypermodel: str = Field(pattern=REFERENCE)
    data: str = Field(pattern=REFERENCE)
    study_name: str = Field(default="", pattern=r"^[A-Za-z0-9_.-]*$")
    engine: Literal["keras-tuner"] = "keras-tuner"
    algorithm: Literal[KERAS_TUNER_ALGORITHMS] = "random"
    algorithm_options: dict[str, Any] = {}
    metric: str
    direction: Direction = "maximize"
    fit: dict[str, Any] = {}
    budget: Budget = Budget()
    seed: int | None = None
    source: str = Field(default="", exclude=True)

    @model_validator(mode="after")
    def _check_budget(self) -> Self:
        if self.budget.timeout is not None:
            raise ValueError("budget.timeout: the keras-tuner engine budgets by n_trials and max_epochs")
        if self.algorithm == "hyperband" and self.budget.max_epochs is None:
            raise ValueError("budget.max_epochs: keras-tuner's hyperband needs it")
        if self.algorithm != "hyperband" and self.budget.n_trials is None:
            raise ValueError("budget.n_trials: give the number of trials")
        return self

    @property
    def n_trials(self) -> int | None:
        return self.budget.n_trials if self.algorithm != "hyperband" else None

    @property
    def experiment(self) -> str:
        return self.hypermodel


KerasTunerSpec = HypermodelSpec | SearchSpec  # what the Keras Tuner engine searches


def is_hypermodel_spec(path: Path) -> bool:
    return "hypermodel" in load_config(path)


def load_hypermodel_spec(settings: Settings, path: Path) -> HypermodelSpec:
    """Read and check ``path`` and that the files it names exist; TunelabError ``"<path>: key 'k': <why>"``."""
    spec = load_spec(path, HypermodelSpec, extra={"source": str(path)})
    for key in ("hypermodel", "data"):
        file = settings.project_dir / getattr(spec, key).partition(":")[0]
        if not file.is_file():
            raise TunelabError(f"{path}: key '{key}': no file {file}")
    return spec if spec.study_name else spec.model_copy(update={"study_name": path.stem})
