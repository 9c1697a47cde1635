// Package agent is the edge agent: it takes commands from MQTT, runs them
// against the servo through driver/resort, and publishes replies, retained
// state, health, availability, info and Home Assistant discovery.
//
// It is three parts and a link supervisor, each with its own state, wired
// by Agent (agent.go):
//
//   - session (session.go, birth.go, inbound.go, publisher.go, outbox.go):
//     the MQTT connection, subscriptions, birth and goodbye, the inbound
//     hand-off and the reply outbox.
//   - service (service.go, dispatch.go, estop.go, run.go, executor.go,
//     dedupe.go, handlers.go, connect.go, motion.go, control.go, reads.go,
//     reply.go, topics.go, errors.go, counters.go): the commands.
//   - telemetry (telemetry.go, live.go, state.go, health.go, info.go,
//     discovery.go): the retained topics.
//   - link (link.go): keeps the serial port up.
//
// payloads.go is the one place where driver values become contract
// payloads, for the service's results and telemetry alike.
//
// A command goes one way: session.onPublish -> service inbox -> dispatch
// (emergency stop first, then parse, retained check, expiry, dedupe) ->
// executor (reads at once, motion one at a time, control inline) ->
// handler -> resort -> bus -> serial; the reply goes to the outbox, which
// publishes it on its own goroutine.
package agent
