# plate-resort: `make run` starts the whole thing on the simulator, `make test`
# runs every test with the real parts it needs (mosquitto, a Prefect server).

GO          ?= go
BIN         := bin/plate-resort
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X github.com/plate-resort/plate-resort/internal/buildinfo.Version=$(VERSION)
PREFECT_VENV ?= .cache/prefect-venv
# Home Assistant Core for the e2e/homeassistant test (.ci/ha-venv.sh).
HA_VENV     ?= .cache/ha-venv
# The prefect executable the Prefect tests and benchmarks use.
PREFECT_BIN ?= $(or $(PLATE_RESORT_TEST_PREFECT),$(abspath $(PREFECT_VENV))/bin/prefect)
export CGO_ENABLED ?= 0

.PHONY: all build run test test-deps fuzz bench bench-bridge bench-fleet soak soak-short cross dist vet fmt check clean panel-vendor \
	test-prefect-postgres test-fleet-long test-prefect-matrix

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/plate-resort

## run: embedded broker + simulated servo + agent on loopback (no hardware, no Prefect).
run:
	$(GO) run ./cmd/plate-resort up -c configs/up.yaml

## test-deps: install what the end-to-end tests use (mosquitto, chromium, lintian, systemd, prometheus, postgresql via apt when root,
## a pinned Prefect server and a pinned Home Assistant Core in local venvs).
test-deps:
	@missing=""; for b in mosquitto mosquitto_rr chromium lintian systemd-analyze prometheus promtool psql; do \
		command -v $$b >/dev/null || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients chromium lintian systemd prometheus postgresql) >/dev/null; \
		else echo "missing:$$missing: sudo apt-get install mosquitto mosquitto-clients chromium lintian systemd prometheus postgresql (tests needing them will skip)"; fi; \
	fi
	@if command -v python3 >/dev/null; then ./.ci/prefect-venv.sh $(PREFECT_VENV) >/dev/null; \
	else echo "python3 missing: the Prefect end-to-end tests will skip"; fi
	@./.ci/ha-venv.sh $(HA_VENV) >/dev/null || \
		echo "Home Assistant venv not built (needs Python 3.13): the Home Assistant end-to-end test will skip"

## test: go vet, gofmt, and every test with the race detector (CGO is needed for -race).
test: test-deps
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	PLATE_RESORT_TEST_PREFECT=$${PLATE_RESORT_TEST_PREFECT:-$(abspath $(PREFECT_VENV))/bin/prefect} \
		PLATE_RESORT_TEST_HASS=$${PLATE_RESORT_TEST_HASS:-$(abspath $(HA_VENV))/bin/hass} \
		CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 30m ./...

## test-prefect-postgres: the bridge's core end-to-end tests and the three-bridges,
## twenty-carousels claim test against a Prefect server on PostgreSQL (a throwaway
## cluster per server, internal/testenv/postgres.go; Debian's postgresql package).
PREFECT_PG_TESTS ?= ^(TestActivateHotelCompletesWithResult|TestCancelDuringMove|TestTwoBridgesOnOnePoolExecuteEachRunOnce|TestRacingClaimsHaveOneWinner|TestThreeBridgesTwentyDevicesEachRunOnce)$$
test-prefect-postgres:
	PLATE_RESORT_TEST_PREFECT=$(PREFECT_BIN) PLATE_RESORT_TEST_PREFECT_DB=postgres \
		$(GO) test -count=1 -timeout 20m -run '$(PREFECT_PG_TESTS)' ./bridge

## test-fleet-long: the claim test with 600 runs (FLEET_RUNS) on PostgreSQL
## (PLATE_RESORT_TEST_PREFECT_DB=sqlite for SQLite).
FLEET_RUNS ?= 600
test-fleet-long:
	PLATE_RESORT_TEST_PREFECT=$(PREFECT_BIN) PLATE_RESORT_TEST_PREFECT_DB=$${PLATE_RESORT_TEST_PREFECT_DB:-postgres} PLATE_RESORT_FLEET_RUNS=$(FLEET_RUNS) \
		$(GO) test -count=1 -timeout 60m -v -run '^TestThreeBridgesTwentyDevicesEachRunOnce$$' ./bridge

## test-prefect-matrix: the bridge's end-to-end tests against every Prefect server
## pinned in .ci/prefect-matrix/ (the seed's 3.4.23, the CI pin 3.8.8, the newest
## 3.9.1), each in its own venv under .cache (long: run it by hand, CI keeps the pin).
test-prefect-matrix:
	./.ci/prefect-matrix.sh

## fuzz: each fuzz target for a bounded number of inputs (about 5-10 s each).
## Counts, not -fuzztime durations: with a time limit the Go fuzz engine now
## and then fails a clean run with "context deadline exceeded" when a worker
## is busy at the deadline.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime 500000x ./driver/protocol
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 200000x ./contract
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeEvent$$' -fuzztime 100000x ./contract
	$(GO) test -run '^$$' -fuzz '^FuzzReceive$$' -fuzztime 300x ./driver/bus
	$(GO) test -run '^$$' -fuzz '^FuzzServeBytes$$' -fuzztime 100000x ./driver/sim
	$(GO) test -run '^$$' -fuzz '^FuzzCovers$$' -fuzztime 100000x ./broker
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeResponses$$' -fuzztime 50000x ./bridge/prefect
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeReply$$' -fuzztime 50000x ./bridge
	$(GO) test -run '^$$' -fuzz '^FuzzDevicesHandle$$' -fuzztime 50000x ./bridge

## bench: every benchmark: codec, pty round trip, agent MQTT round trip and e-stop
## latency (bench/agentbench), broker vs mosquitto (bench/brokerbench), and
## bench-bridge when the Prefect venv exists.
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./driver/protocol
	$(GO) test -run '^$$' -bench PTYRead -benchtime 3s ./driver/sim
	$(GO) run ./bench/agentbench -bin $(BIN)
	$(GO) run ./bench/brokerbench
	@ls -l $(BIN) | awk '{printf "binary size: %.1f MB\n", $$5/1e6}'
	@if [ -x "$(PREFECT_BIN)" ]; then $(MAKE) --no-print-directory bench-bridge; \
	else echo "bench-bridge skipped: no Prefect at $(PREFECT_BIN); make test-deps (or ./.ci/prefect-venv.sh $(PREFECT_VENV)) installs the pinned one"; fi

## bench-fleet: a fleet of simulated carousels, one MQTT 5 client: get_position round trips,
## replies/s, RSS and CPU at 1, 10, 50 and 100 devices, each size run two ways side by side: a
## broker and an agent process per device, and one `plate-resort up --devices N` (bench/fleetbench,
## ~5 min; FLEETBENCH_FLAGS=-sizes 1,10 for a shorter run, -mode process or shared for one way).
## When the Prefect venv exists, then the Prefect figures on SQLite and PostgreSQL: floor, the bridge
## serving 1 and 10 devices (its registration timed, first and after a restart), process worker
## (~18 min more; -prefect-sizes 1,10,100 adds a 100-device fleet found by discovery, ~8 min more
## per database; -prefect-db sqlite, -process-runs 0, -sizes none to skip parts).
bench-fleet: build
	$(GO) run ./bench/fleetbench -bin $(BIN) $$([ -x "$(PREFECT_BIN)" ] && echo -prefect $(PREFECT_BIN)) $(FLEETBENCH_FLAGS)

## bench-bridge: set_state round trips of the Prefect client, then the bridge vs a
## stock Prefect process worker on a real Prefect server (bench/bridgebench, ~10 min;
## BRIDGEBENCH_FLAGS=-rss-only: the bridge alone, ~1 min).
bench-bridge: build
	PLATE_RESORT_TEST_PREFECT=$(PREFECT_BIN) $(GO) test -run '^$$' -bench SetState -benchtime 100x ./bridge/prefect
	PLATE_RESORT_TEST_PREFECT=$(PREFECT_BIN) $(GO) run ./bench/bridgebench -bin $(BIN) $(BRIDGEBENCH_FLAGS)

## soak: the whole system as processes (Prefect server, broker, simulator, agent,
## bridge) under mixed load with a fault at random intervals (broker restart,
## serial unplug, kill -9 of agent or bridge, Prefect restart) for 30 minutes;
## exits non-zero if a command ran twice, was lost, or a run stayed non-final.
## SOAK_FLAGS adds flags (e.g. -seed N, -keep).
SOAK_DURATION ?= 30m
soak: build
	$(GO) run ./bench/soak -bin $(BIN) -prefect $(PREFECT_BIN) -duration $(SOAK_DURATION) $(SOAK_FLAGS)

## soak-short: the same for 60 seconds (what CI runs through go test ./bench/soak).
soak-short: build
	$(GO) run ./bench/soak -bin $(BIN) -prefect $(PREFECT_BIN) -duration 60s -motion-timeout 30s $(SOAK_FLAGS)

## cross: Raspberry Pi binaries (64-bit and 32-bit ARMv7), CGO off.
cross:
	GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/plate-resort-linux-arm64 ./cmd/plate-resort
	GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/plate-resort-linux-armv7 ./cmd/plate-resort

## panel-vendor: reproduce panel/web/vendor/mqtt.esm.js (the web panel's MQTT client) from
## the npm registry at the version and integrity pinned in panel/package-lock.json; the
## copy is committed, so `make build` never needs npm. TestVendoredMQTTJS checks it.
panel-vendor:
	cd panel && npm ci --ignore-scripts --no-audit --no-fund
	cp panel/node_modules/mqtt/dist/mqtt.esm.js panel/web/vendor/mqtt.esm.js
	cp panel/node_modules/mqtt/LICENSE.md panel/web/vendor/mqtt.LICENSE.md
	cd panel/web/vendor && sha512sum mqtt.esm.js > ../../mqtt.esm.js.sha512
	rm -rf panel/node_modules

## dist: .deb packages for arm64, armhf and amd64 in dist/ (packaging/, nfpm as a library).
dist:
	$(GO) run ./packaging -version '$(VERSION)' -ldflags '$(LDFLAGS)' -out dist

vet:
	$(GO) vet ./...

fmt:
	gofmt -w .

clean:
	rm -rf bin dist
