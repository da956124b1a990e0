"""``tunelab init``: a new project from the scaffold shipped with tunelab (package data)."""

from tunelab.project.init import init_project

__all__ = ["init_project"]
