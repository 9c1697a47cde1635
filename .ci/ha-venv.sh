#!/usr/bin/env bash
# Create (or reuse) a Python venv in DIR holding the pinned Home Assistant
# Core used by the e2e/homeassistant tests, then print the hass executable.
#
#   .ci/ha-venv.sh DIR
#   export PLATE_RESORT_TEST_HASS=DIR/bin/hass
#
# Idempotent: a stamp file records the hash of requirements-homeassistant.txt;
# when it matches and `hass --version` runs, nothing is installed. A fresh
# build takes about 4 minutes on a 2-core machine with an empty pip cache
# (3 min 40 s measured; about 2 min with pip's cache warm): some 200
# packages, most of them HA's own dependencies, 820 MB on disk. A reuse
# takes about 2 seconds.
#
# PYTHON selects the interpreter (default: pyenv's 3.13.0 when it exists, else
# python3.13, else python3). HA 2025.4 needs Python >= 3.13.0; newer HA
# releases need >= 3.13.2, which this machine does not have.
#
# The requirements are installed under HA's own package_constraints.txt (read
# from the pinned homeassistant wheel), the versions HA's releases ship with,
# so HA's unpinned transitive dependencies do not drift to untested versions.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
here=$(cd "$(dirname "$0")" && pwd)
req="$here/requirements-homeassistant.txt"
stamp="$dir/.plate-resort-requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
	"$dir/bin/hass" --version >/dev/null 2>&1; then
	echo "$dir/bin/hass"
	exit 0
fi

python=${PYTHON:-}
if [ -z "$python" ]; then
	if [ -x "$HOME/.pyenv/versions/3.13.0/bin/python3.13" ]; then
		python=$HOME/.pyenv/versions/3.13.0/bin/python3.13
	elif command -v python3.13 >/dev/null; then
		python=python3.13
	else
		python=python3
	fi
fi

if [ ! -x "$dir/bin/python" ]; then
	"$python" -m venv "$dir"
fi
pip=("$dir/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install --quiet --upgrade pip

# HA's constraints file ships inside its wheel: fetch the wheel (pip's cache
# keeps it for the install below) and read the file out of it.
ha=$(grep -E '^homeassistant==' "$req")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"${pip[@]}" download --quiet --no-deps --only-binary=:all: -d "$tmp" "$ha"
"$dir/bin/python" - "$tmp" <<'PY'
import glob, sys, zipfile
tmp = sys.argv[1]
with zipfile.ZipFile(glob.glob(tmp + "/homeassistant-*.whl")[0]) as z:
    data = z.read("homeassistant/package_constraints.txt")
open(tmp + "/constraints.txt", "wb").write(data)
PY
"${pip[@]}" install --quiet -r "$req" -c "$tmp/constraints.txt"
"$dir/bin/hass" --version >/dev/null
echo "$want" >"$stamp"
echo "$dir/bin/hass"
