package editdist

import "testing"

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"sales", "sales", 0}, {"salse", "sales", 1}, {"sale", "sales", 1},
		{"", "abc", 3}, {"kitten", "sitting", 3}, {"daily", "dayly", 1}, {"ab", "ba", 1},
	} {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
