package sqlparse

import (
	"strings"
)

// stmtKind is what a statement does to relations (DESIGN.md rule 7).
type stmtKind int

const (
	stmtOther  stmtKind = iota // SET, CREATE MACRO, LOCK, GRANT, ...: reads and writes nothing
	stmtQuery                  // returns rows: its result is the cell's
	stmtDefine                 // CREATE TABLE|VIEW
	stmtWrite                  // INSERT, UPDATE, DELETE, TRUNCATE, COPY x FROM, ALTER, DROP
	stmtExport                 // COPY ... TO, ANALYZE: reads only
)

// pgStatement is one statement of a Postgres parse tree, read per
// statement kind: what it reads, what it writes and what it creates.
type pgStatement struct {
	kind   stmtKind
	reads  []Ref
	writes []Ref
	// create is the relation a CREATE TABLE|VIEW makes; temp and view say
	// what it is.
	create     *Ref
	temp, view bool
}

// classify reads one statement node of a pg_query JSON tree (the value of
// "stmt": a map with one key, the node type). masks maps the location of a
// placeholder relation to the references of the DuckDB query it stands for
// (see analyser.pgParse); it is nil for the Postgres dialect. ok is false
// for a statement kind classify does not know, whose reads the caller
// decides.
func classify(stmt map[string]any, masks map[int][]Ref) (st pgStatement, ok bool) {
	w := &pgWalker{masks: masks}
	for typ, v := range stmt {
		n, _ := v.(map[string]any)
		sc := (*scope)(nil)
		if with, ok := n["withClause"].(map[string]any); ok && typ != "SelectStmt" {
			sc = w.with(with, nil)
		}
		walk := func(fields ...string) {
			for _, f := range fields {
				w.walk(n[f], sc)
			}
		}
		switch typ {
		case "SelectStmt":
			st.kind = stmtQuery
			w.walk(n, nil)
		case "InsertStmt":
			st.kind, st.writes = stmtWrite, directRefs(n["relation"])
			walk("selectStmt", "onConflictClause", "returningList")
		case "UpdateStmt":
			st.kind, st.writes = stmtWrite, directRefs(n["relation"])
			walk("targetList", "fromClause", "whereClause", "returningList")
		case "DeleteStmt":
			st.kind, st.writes = stmtWrite, directRefs(n["relation"])
			walk("usingClause", "whereClause", "returningList")
		case "MergeStmt":
			st.kind, st.writes = stmtWrite, directRefs(n["relation"])
			walk("sourceRelation", "joinCondition", "mergeWhenClauses", "returningList")
		case "TruncateStmt":
			st.kind, st.writes = stmtWrite, wrappedRefs(n["relations"])
		case "AlterTableStmt", "RenameStmt":
			if n["relation"] == nil {
				return st, true // ALTER of something that is not a relation
			}
			st.kind, st.writes = stmtWrite, directRefs(n["relation"])
		case "DropStmt":
			switch n["removeType"] {
			case "OBJECT_TABLE", "OBJECT_VIEW", "OBJECT_MATVIEW", "OBJECT_FOREIGN_TABLE":
				st.kind, st.writes = stmtWrite, dropRefs(n["objects"])
			}
		case "CopyStmt":
			switch {
			case n["query"] != nil:
				st.kind = stmtExport
				walk("query")
			case n["is_from"] == true:
				st.kind, st.writes = stmtWrite, directRefs(n["relation"])
			default:
				st.kind, w.refs = stmtExport, directRefs(n["relation"])
			}
		case "VacuumStmt": // ANALYZE x, VACUUM x
			st.kind = stmtExport
			rels, _ := n["rels"].([]any)
			for _, r := range rels {
				vr, _ := r.(map[string]any)
				rel, _ := vr["VacuumRelation"].(map[string]any)
				w.refs = append(w.refs, directRefs(rel["relation"])...)
			}
		case "CreateStmt":
			st.kind, st.create = stmtDefine, directRef(n["relation"])
			walk("tableElts", "inhRelations")
		case "CreateTableAsStmt":
			into, _ := n["into"].(map[string]any)
			st.kind, st.create, st.view = stmtDefine, directRef(into["rel"]), n["objtype"] == "OBJECT_MATVIEW"
			walk("query")
		case "ViewStmt":
			st.kind, st.create, st.view = stmtDefine, directRef(n["view"]), true
			walk("query")
		case "LockStmt", "GrantStmt", "CommentStmt", "SecLabelStmt", "AlterOwnerStmt", "AlterObjectSchemaStmt":
			// Their relations are objects acted on, not read.
		default:
			return st, false
		}
		if st.create != nil {
			rel, _ := n["relation"].(map[string]any)
			if rel == nil {
				if into, ok := n["into"].(map[string]any); ok {
					rel, _ = into["rel"].(map[string]any)
				} else {
					rel, _ = n["view"].(map[string]any)
				}
			}
			st.temp = rel["relpersistence"] == "t" || isTempRef(*st.create)
		}
	}
	st.reads = w.refs
	return st, true
}

// directRef reads a RangeVar stored in a field typed RangeVar (pg_query
// writes those without the "RangeVar" wrapper a Node field has).
func directRef(v any) *Ref {
	rv, _ := v.(map[string]any)
	if rv == nil {
		return nil
	}
	r := rangeVarRef(rv)
	return &r
}

func directRefs(v any) []Ref {
	if r := directRef(v); r != nil {
		return []Ref{*r}
	}
	return nil
}

// wrappedRefs reads a list of Node-wrapped RangeVars.
func wrappedRefs(v any) []Ref {
	list, _ := v.([]any)
	var refs []Ref
	for _, e := range list {
		m, _ := e.(map[string]any)
		if rv, ok := m["RangeVar"].(map[string]any); ok {
			refs = append(refs, rangeVarRef(rv))
		}
	}
	return refs
}

// dropRefs reads the names of DROP TABLE|VIEW: lists of String nodes, which
// carry no location.
func dropRefs(v any) []Ref {
	list, _ := v.([]any)
	var refs []Ref
	for _, e := range list {
		m, _ := e.(map[string]any)
		l, _ := m["List"].(map[string]any)
		items, _ := l["items"].([]any)
		var parts []string
		for _, it := range items {
			s, _ := it.(map[string]any)
			str, _ := s["String"].(map[string]any)
			name, _ := str["sval"].(string)
			parts = append(parts, name)
		}
		r := Ref{Offset: -1}
		switch len(parts) {
		case 1:
			r.Name = parts[0]
		case 2:
			r.Schema, r.Name = parts[0], parts[1]
		case 3:
			r.Catalog, r.Schema, r.Name = parts[0], parts[1], parts[2]
		default:
			continue
		}
		refs = append(refs, r)
	}
	return refs
}

func rangeVarRef(rv map[string]any) Ref {
	r := Ref{Offset: -1}
	r.Catalog, _ = rv["catalogname"].(string)
	r.Schema, _ = rv["schemaname"].(string)
	r.Name, _ = rv["relname"].(string)
	if loc, ok := rv["location"].(float64); ok {
		r.Offset = int(loc)
	}
	return r
}

// pgWalker collects RangeVar references from a pg_query JSON tree, tracking
// CTE scope: with WITH RECURSIVE every CTE of the clause sees all of them,
// else a body sees the CTEs before it. Besides Node-wrapped RangeVars it
// reads the two RangeVar fields that name a relation read: the source of
// CREATE TABLE (LIKE src) and the table a foreign key references.
type pgWalker struct {
	refs  []Ref
	masks map[int][]Ref
}

func (w *pgWalker) walk(v any, sc *scope) {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			w.walk(e, sc)
		}
	case map[string]any:
		if with, ok := v["withClause"].(map[string]any); ok {
			sc = w.with(with, sc)
		}
		if rv, ok := v["RangeVar"].(map[string]any); ok {
			w.rangeVar(rv, sc)
			return
		}
		if like, ok := v["TableLikeClause"].(map[string]any); ok {
			w.refs = append(w.refs, directRefs(like["relation"])...)
			return
		}
		if c, ok := v["Constraint"].(map[string]any); ok && c["pktable"] != nil {
			w.refs = append(w.refs, directRefs(c["pktable"])...)
		}
		for k, e := range v {
			if k != "withClause" {
				w.walk(e, sc)
			}
		}
	}
}

func (w *pgWalker) with(with map[string]any, sc *scope) *scope {
	recursive, _ := with["recursive"].(bool)
	ctes, _ := with["ctes"].([]any)
	var names []string
	cteOf := func(c any) map[string]any {
		node, _ := c.(map[string]any)
		cte, _ := node["CommonTableExpr"].(map[string]any)
		return cte
	}
	for _, c := range ctes {
		name, _ := cteOf(c)["ctename"].(string)
		names = append(names, name)
	}
	for i, c := range ctes {
		cte := cteOf(c)
		visible := names[:i]
		if recursive {
			visible = names
		}
		w.walk(cte["ctequery"], sc.with(visible...))
	}
	return sc.with(names...)
}

func (w *pgWalker) rangeVar(rv map[string]any, sc *scope) {
	r := rangeVarRef(rv)
	if refs, ok := w.masks[r.Offset]; ok && r.Name == maskName {
		// A DuckDB query stood here: its references, less the CTEs of
		// the Postgres tree in scope at this point.
		for _, m := range refs {
			if m.Catalog == "" && m.Schema == "" && sc.has(m.Name) {
				continue
			}
			w.refs = append(w.refs, m)
		}
		return
	}
	if r.Catalog == "" && r.Schema == "" && sc.has(r.Name) {
		return
	}
	w.refs = append(w.refs, r)
}

// isTempRef reports whether a reference names the temp schema explicitly.
func isTempRef(r Ref) bool {
	return strings.EqualFold(r.Schema, "temp") || strings.EqualFold(r.Catalog, "temp")
}
