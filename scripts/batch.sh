#!/usr/bin/env bash
# The book's "try experiments" pattern: one Sacred run per JSON config, through Sacred's own CLI.
#   scripts/batch.sh EXPERIMENT CONFIG...      e.g. scripts/batch.sh svm configs/batch/svm_*.json
# A failing run does not stop the batch; the exit status is 1 if any run failed.
set -uo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: scripts/batch.sh EXPERIMENT CONFIG..." >&2; exit 2; }
experiment=$1; shift
[ -f "experiments/$experiment.py" ] || { echo "error: unknown experiment '$experiment' (no experiments/$experiment.py)" >&2; exit 2; }
python=.venv/bin/python
[ -x "$python" ] || python=python3

failed=0
for config in "$@"; do
  echo "== $experiment with $config"
  "$python" "experiments/$experiment.py" with "$config" || failed=1
done
exit $failed
