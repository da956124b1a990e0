"""``python -m tunelab.cli``: the ``tunelab`` command (how ``tunelab repro --checkout`` runs it in a worktree)."""

from tunelab.cli import main

main()
