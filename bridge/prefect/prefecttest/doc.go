// Package prefecttest starts a real Prefect server (the pinned version from
// .ci/requirements-prefect.txt) for tests: its own PREFECT_HOME and SQLite
// database in a temp dir, a free loopback port, analytics and UI off.
//
// The prefect executable comes from $PLATE_RESORT_TEST_PREFECT, else `prefect` on
// PATH (.ci/prefect-venv.sh DIR creates one in DIR/bin). When it is missing,
// tests are skipped, unless PLATE_RESORT_REQUIRE_E2E=1 makes that a failure.
//
// A server costs seconds to start, so a package with several tests shares one:
//
//	var srv = prefecttest.NewShared(prefecttest.Options{})
//	func TestMain(m *testing.M) { os.Exit(srv.Run(m)) }
//	func TestX(t *testing.T) { s := srv.Get(t); ... s.URL ... }
package prefecttest
