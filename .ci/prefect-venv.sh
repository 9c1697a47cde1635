#!/usr/bin/env bash
# Create (or reuse) a Python venv in DIR holding the pinned Prefect server used
# by the bridge's e2e tests, then print the prefect executable path.
# REQUIREMENTS (default .ci/requirements-prefect.txt) selects another pinned
# set, e.g. one of .ci/prefect-matrix/ (make test-prefect-matrix).
#
#   .ci/prefect-venv.sh DIR [REQUIREMENTS]
#   export PLATE_RESORT_TEST_PREFECT=DIR/bin/prefect
#
# Idempotent: a stamp file records the hash of requirements-prefect.txt; when it
# matches and `prefect version` runs, nothing is installed. PYTHON selects the
# interpreter (default python3; Prefect 3.4 needs 3.9-3.13).
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 DIR [REQUIREMENTS]" >&2
	exit 2
fi
dir=$1
here=$(cd "$(dirname "$0")" && pwd)
req=${2:-"$here/requirements-prefect.txt"}
python=${PYTHON:-python3}
stamp="$dir/.plate-resort-requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
	"$dir/bin/prefect" version >/dev/null 2>&1; then
	echo "$dir/bin/prefect"
	exit 0
fi

if [ ! -x "$dir/bin/python" ]; then
	"$python" -m venv "$dir"
fi
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
"$dir/bin/prefect" version >/dev/null
echo "$want" >"$stamp"
echo "$dir/bin/prefect"
