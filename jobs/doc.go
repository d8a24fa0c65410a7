// Package jobs runs external cells as jobs on a pool of workers over NATS
// (DESIGN.md "External cells as jobs"): a Client is a connectors.Source
// that submits each fetch to the JetStream work queue CELLSD_JOBS and
// feeds the Arrow record batches a worker streams back to the engine's
// connectors.ResultWriter; a Worker takes the jobs of the connections it
// holds credentials for and runs them through connectors.Source.
//
// The protocol is in protocol.go. Client, Source and Worker are safe for
// concurrent use.
package jobs
