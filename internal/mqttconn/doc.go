// Package mqttconn is the one MQTT client setup of the agent and the
// bridge: the broker connection config, URL parsing with TLS, credentials,
// reconnect backoff, and logs that never show a password.
package mqttconn
