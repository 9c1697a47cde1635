// Package bridge is a Prefect worker written in Go: it registers a work pool
// and one deployment per carousel command, claims the flow runs of those
// deployments, sends each as an MQTT command to the edge agent and reports the
// agent's reply back to Prefect as the run's final state. The Pi runs no
// Python and never talks to Prefect.
//
// Files: config.go (Config, Defaults, Validate), deployments.go (the table of
// upstream deployment names and their commands), schema.go (Prefect parameter
// schemas from the agent's command catalogue), register.go (pool, flows,
// deployments, heartbeat), mqtt.go (the broker connection), request.go and
// correlator.go (MQTT 5 request/response), devices.go (retained
// availability, state, info), result.go (shaping results for
// state.result()), poll.go (events wake-up + polling), run.go (one flow run
// from claim to final state, with the runDeps it gets instead of the
// Bridge), attempt.go (one command: send, wait, outcome), cancel.go,
// recover.go, runlog.go (per-run Prefect logs). Topics, names, replies and
// state are the wire contract's (package contract); the MQTT client setup is
// internal/mqttconn's.
//
// REST facts are cited as "docs/prefect.md §n" and MQTT facts as
// "docs/mqtt.md §n"; the MQTT contract is topics.md.
package bridge
