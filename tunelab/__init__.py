"""tunelab: experiment tracking and hyperparameter tuning workbench."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunelab.tuning.tracked_trials import TrialRun

# Sacred 0.8.7 imports pkg_resources, which setuptools >= 67 warns about on every start.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)


def load_model(ref: int | str) -> Any:
    """The fitted model of a run id, or of a registered model ``name`` / ``name@version``.

    Its artifact's sha256 is checked before it is unpickled; TunelabError if it
    does not match. See :func:`tunelab.versioning.models.load_model`.
    """
    from tunelab.settings import load_settings
    from tunelab.versioning.models import load_model as load

    return load(load_settings(), ref)


def current_run() -> TrialRun:
    """The tracked run of the Optuna trial being evaluated here (``tunelab tune FILE.py:FUNCTION``, ``track``)."""
    from tunelab.tuning.tracked_trials import current_run as current

    return current()
