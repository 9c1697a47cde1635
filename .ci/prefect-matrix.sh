#!/usr/bin/env bash
# Prefect version matrix: the bridge's end-to-end tests (./bridge and
# ./bridge/prefect) against each Prefect server pinned in
# .ci/prefect-matrix/requirements-prefect-<version>.txt, each in its own venv
# under .cache (.ci/prefect-venv.sh DIR REQUIREMENTS). CI runs only the pinned
# server (.ci/requirements-prefect.txt); this is `make test-prefect-matrix`.
#
#   .ci/prefect-matrix.sh [VERSION...]     (default: every pinned version)
#
# PLATE_RESORT_TEST_PREFECT_DB=postgres runs the servers on PostgreSQL;
# GOTEST_RUN limits the tests (go test -run). It goes on after a failing
# version and prints one line per version at the end; the exit status is
# non-zero when any failed. Logs: .cache/prefect-matrix-<version>.log.
set -uo pipefail
cd "$(dirname "$0")/.."

versions=("$@")
if [ ${#versions[@]} -eq 0 ]; then
	for f in .ci/prefect-matrix/requirements-prefect-*.txt; do
		v=${f##*/requirements-prefect-}
		versions+=("${v%.txt}")
	done
	mapfile -t versions < <(printf '%s\n' "${versions[@]}" | sort -V)
fi

summary=()
failed=0
for v in "${versions[@]}"; do
	req=.ci/prefect-matrix/requirements-prefect-$v.txt
	if [ ! -f "$req" ]; then
		echo "no pinned requirements for Prefect $v ($req)" >&2
		exit 2
	fi
	dir=.cache/prefect-$v
	# The CI pin shares the CI venv instead of building a second copy.
	if [ "$(readlink -f "$req")" = "$(readlink -f .ci/requirements-prefect.txt)" ]; then
		dir=.cache/prefect-venv
	fi
	echo "== Prefect $v ($dir)"
	if ! ./.ci/prefect-venv.sh "$dir" "$req" >/dev/null; then
		summary+=("prefect $v: venv FAILED")
		failed=1
		continue
	fi
	log=.cache/prefect-matrix-$v.log
	start=$(date +%s)
	PLATE_RESORT_REQUIRE_E2E=1 PLATE_RESORT_TEST_PREFECT="$PWD/$dir/bin/prefect" CGO_ENABLED=0 \
		PLATE_RESORT_TEST_PREFECT_START_TIMEOUT=${PLATE_RESORT_TEST_PREFECT_START_TIMEOUT:-5m} \
		go test -p 1 -count=1 -timeout 45m ${GOTEST_RUN:+-run "$GOTEST_RUN"} -v ./bridge ./bridge/prefect >"$log" 2>&1
	rc=$?
	took=$(($(date +%s) - start))
	pass=$(grep -c -- '^--- PASS' "$log")
	fail=$(grep -c -- '^--- FAIL' "$log")
	skip=$(grep -c -- '^--- SKIP' "$log")
	if [ $rc -eq 0 ]; then
		res=ok
	else
		res=FAILED
		failed=1
		grep -- '^--- FAIL' "$log" | sed 's/^/    /'
	fi
	summary+=("prefect $v: $res in ${took}s ($pass passed, $fail failed, $skip skipped; $log)")
done
echo "== Prefect matrix (${PLATE_RESORT_TEST_PREFECT_DB:-sqlite})"
printf '%s\n' "${summary[@]}"
exit $failed
