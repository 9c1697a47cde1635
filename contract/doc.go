// Package contract is the MQTT wire contract of plate-resort in code: topic
// names, the rules for device ids, prefixes and hotel names, the command
// catalogue with its parameter JSON Schemas and the one payload parser,
// the error codes, and the payload types (reply, state, health, info,
// event and each command's result).
//
// topics.md is its prose; a test checks the two against each other. The
// agent, the bridge, the broker's ACL rules, the benchmarks and the tests
// build every topic and payload through this package, so none of them can
// drift from the others. It imports nothing of the project.
package contract
