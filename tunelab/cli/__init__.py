"""The ``tunelab`` command: a thin layer over the library.

Every :class:`~tunelab.errors.TunelabError` becomes one line on stderr and exit
status 2; nothing else turns errors into exit codes.
"""

from __future__ import annotations

import sys

from tunelab.cli._app import app
from tunelab.errors import TunelabError

__all__ = ["app", "main"]


def main() -> None:
    try:
        app(prog_name="tunelab")
    except TunelabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
