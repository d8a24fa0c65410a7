package plan

import "testing"

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"sales", "sales", 0}, {"salse", "sales", 1}, {"sale", "sales", 1},
		{"", "abc", 3}, {"kitten", "sitting", 3}, {"daily", "dayly", 1}, {"ab", "ba", 1},
	} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
