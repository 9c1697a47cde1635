// Package broker is the embedded MQTT broker of plate-resort: mochi-mqtt v2
// with the listeners a lab needs (TCP, TLS, WebSocket, an HTTP health
// endpoint), users with bcrypt password hashes, deny-by-default ACLs by role
// over the topic contract of topics.md, and bolt persistence of retained
// messages and sessions.
//
// mochi pitfalls this package closes (see docs/mqtt.md §5):
//   - mochi's auth ledger compares plain-text passwords: users here carry bcrypt
//     hashes only, and a plain-text password in the config is refused.
//   - mochi's ledger ACL allows when no rule matches: the hook here denies
//     unless a role rule allows.
//   - MaximumMessageExpiryInterval defaults to 24 h and then deletes retained
//     messages by age: it is set to 0 (no limit).
package broker
