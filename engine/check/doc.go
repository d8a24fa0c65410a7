// Package check is CI regression of notebook fixtures: it runs a fixture
// directory (a notebook, optional connections, Postgres setup, parameters
// and a scenario of steps) through a real session and compares three
// goldens with what it got: the graph, the final state and result
// fingerprint of every cell, and the normalised event sequence. Goldens are
// deterministic: no times, durations or anything a run's timing decides.
//
// Functions are safe for concurrent use on different fixtures.
package check
