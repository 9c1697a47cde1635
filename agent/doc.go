// Package agent is the edge agent: it takes commands from MQTT, runs them
// against the servo through driver/resort, and publishes replies, retained
// state, health, availability, info and Home Assistant discovery.
//
// Data flows one way: MQTT message -> command.Parse -> dispatcher (dedupe,
// expiry, retained check) -> executor (reads at once, motion one at a time,
// e-stop ahead of everything) -> resort -> bus -> serial. Replies and
// telemetry go back out through the publisher.
package agent
