"""The one exception type for mistakes a user can make or fix."""

from __future__ import annotations


class TunelabError(Exception):
    """A user-facing error: bad input, a missing file, an unreachable server.

    The message is written for the user and names the file, key or value at
    fault. The CLI prints it as one line and exits with status 2; library
    callers can catch it. Anything else escaping is a bug in tunelab.
    """
