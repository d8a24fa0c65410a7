// Package natsbus carries a session's events over NATS (DESIGN.md "Events
// over NATS"): every status change is published on
// cellsd.v1.events.<session>.<artifact>.<cell>, captured by the JetStream
// stream CELLSD_EVENTS, and the latest per cell is kept in the KV bucket
// CELLSD_STATUS. It also keeps session ids' identity (DESIGN.md
// "Sessions: identity"): who holds a live id (the bucket CELLSD_SESSIONS,
// Acquire), where a new incarnation's seq starts and the purge of the old
// one's keys (Begin), and the closing of sessions a killed daemon left
// (CloseAbandoned).
//
// It is also cellsd's one NATS setup: the embedded server a daemon starts
// when given none (StartServer: JetStream, loopback unless a nats-server
// config says otherwise, the daemon's user and the auth callout for
// session tokens) and the connection every cellsd process makes (Connect:
// reconnect forever, buffer while disconnected, the stream and buckets).
//
// Publisher, Server and Callout are safe for concurrent use.
package natsbus
