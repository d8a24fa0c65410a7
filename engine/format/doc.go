// Package format writes what the engine computes in the shapes of
// DESIGN.md's "CLI contract": a plan as the graph document (JSON, Graphviz
// DOT, Mermaid) and a run's report as JSON and as JUnit XML. It reads
// engine values and holds no state; its functions are safe for concurrent
// use on values nobody changes meanwhile.
package format
