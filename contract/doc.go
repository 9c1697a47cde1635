// Package command is the command catalogue of the MQTT contract: every
// command's name, kind and parameter JSON Schema, and the one parser and
// validator that turns a raw MQTT payload into a validated request. The
// agent validates with it, publishes it in <base>/info, and the bridge builds
// Prefect parameter schemas from it, so the three can never disagree.
package contract
