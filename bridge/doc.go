// Package bridge is a Prefect worker written in Go: it registers a work pool
// and one deployment per carousel command, claims the flow runs of those
// deployments, sends each as an MQTT command to the edge agent and reports the
// agent's reply back to Prefect as the run's final state. The Pi runs no
// Python and never talks to Prefect.
//
// Files: config.go (Config, Defaults, Validate), deployments.go (the table of
// upstream deployment names and their commands), schema.go (Prefect parameter
// schemas from the agent's command catalogue), register.go (pool, flows,
// deployments, heartbeat), mqtt.go (the broker connection), correlator.go
// (MQTT 5 request/response), devices.go (retained availability, state, info),
// reply.go (decoding agent replies), result.go (shaping results for
// state.result()), poll.go (events wake-up + polling), run.go (one flow run
// from claim to final state), cancel.go, recover.go, runlog.go (per-run
// Prefect logs).
//
// REST facts are cited as "§n" of /work/shared/prefect-api.md; the MQTT
// contract is design.md and topics.md.
package bridge
