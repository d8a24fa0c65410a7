// Package jobapi is the job API over NATS (DESIGN.md "Job API over NATS",
// "Results for frontends") as its clients see it: the subjects, the
// request and reply bodies, the error codes, and the operations that need
// nothing but an engine session (the paged status and graph views, the
// query op). Package daemon answers it. Its functions are safe for
// concurrent use.
package jobapi
