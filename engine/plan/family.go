package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cellsd/cellsd/internal/editdist"
)

// Families (DESIGN.md rule 7): the definer of a relation and the cells that
// write into it run as one unit, definer first, writers in notebook order.

// indexFamilies recomputes the families of the relations cells write.
func (ap *ArtifactPlan) indexFamilies() {
	ap.families, ap.familyOf = nil, nil
	for _, cp := range ap.Cells {
		for _, k := range cp.writeKeys {
			if _, ok := ap.families[k]; ok {
				continue
			}
			if ap.families == nil {
				ap.families, ap.familyOf = map[string][]string{}, map[string][]string{}
			}
			members := append(slices.Clone(ap.definers[k]), ap.writersOf(k)...)
			ap.families[k] = members
			for _, id := range members {
				ap.familyOf[id] = append(ap.familyOf[id], k)
			}
		}
	}
}

// Family returns the cells of every family cell id belongs to (as the
// definer or a writer of a relation some cell writes), in the order they
// run: definers, then writers in notebook order; nil when it belongs to
// none.
func (ap *ArtifactPlan) Family(id string) []string {
	var out []string
	for _, k := range ap.familyOf[id] {
		for _, m := range ap.families[k] {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

// DefinesFamily reports whether cell id is the definer of a relation that
// other cells write.
func (ap *ArtifactPlan) DefinesFamily(id string) bool {
	for _, k := range ap.familyOf[id] {
		if slices.Contains(ap.definers[k], id) {
			return true
		}
	}
	return false
}

// InFamily reports whether cell id belongs to a family.
func (ap *ArtifactPlan) InFamily(id string) bool { return ap.familyOf[id] != nil }

// HasFamilies reports whether any cell of the artifact writes a relation
// another cell defines.
func (ap *ArtifactPlan) HasFamilies() bool { return ap.families != nil }

// Inputs returns the input cells that define {{varName}}, in position
// order.
func (ap *ArtifactPlan) Inputs(varName string) []string { return ap.definers[varKey(varName)] }

// Fingerprint identifies the cell's SQL with layout and comments left out:
// two texts that differ only there have the same fingerprint.
func (cp *CellPlan) Fingerprint() string { return cp.fingerprint }

// MissingHint says what the plan knows about a relation name a cell other
// than cell found missing when it ran: that it is a TEMP table of another
// cell (local to it), or the names the artifact's cells define, closest
// first, as did-you-mean.
func (ap *ArtifactPlan) MissingHint(cell, name string) string {
	var names []string
	seen := map[string]bool{}
	for _, cp := range ap.Cells {
		if cp.Analysis != nil && cp.Cell.ID != cell {
			for _, t := range cp.Analysis.Temps {
				if strings.EqualFold(t.Name, name) {
					return fmt.Sprintf("%s is a TEMP table of cell %s: TEMP tables and views are local to the cell that creates them; use CREATE TABLE in %s to share it", name, cp.Cell.ID, cp.Cell.ID)
				}
			}
		}
		for _, d := range cp.Defines {
			if !seen[strings.ToLower(d)] {
				seen[strings.ToLower(d)] = true
				names = append(names, d)
			}
		}
	}
	if len(names) == 0 {
		return "No cell of this notebook defines " + name + "."
	}
	slices.SortStableFunc(names, func(a, b string) int {
		return editdist.Distance(strings.ToLower(name), strings.ToLower(a)) - editdist.Distance(strings.ToLower(name), strings.ToLower(b))
	})
	if len(names) > 5 {
		names = names[:5]
	}
	for i, n := range names {
		names[i] = `"` + n + `"`
	}
	return fmt.Sprintf("No cell of this notebook defines %s. Did you mean one of the notebook's tables: %s?", name, strings.Join(names, ", "))
}
