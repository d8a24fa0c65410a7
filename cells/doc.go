// Package cells is the notebook model of cellsd: it loads notebooks saved by
// SQLRooms (the cells config, or a whole saved UI state), knows the cell
// types, derives the effective result name of a SQL cell and the schema of an
// artifact, and renders {{var}} placeholders from input cells.
//
// The package does no I/O beyond reading the notebook file in [Load] and
// imports no database. Its types are plain values: a [Notebook] is not safe
// for concurrent mutation, callers that share one synchronise.
//
// At ~1,750 lines it is over the ~1,500 the house aims a package at: it is
// the notebook format of one outside program (SQLRooms), whose loading,
// names, {{var}} rendering per dialect, parameters, saving and diagnostics
// read the same types, and no part of it stands alone without them.
package cells
