package cells_test

import (
	"strings"
	"testing"

	"github.com/cellsd/cellsd/cells"
)

func TestResultName(t *testing.T) {
	long := strings.Repeat("Abcdefghij", 7) // 70 characters
	tests := []struct {
		name       string
		title      string
		resultName string
		want       string
	}{
		// SQLRooms' default titles for new cells.
		{"SQLDefaultTitle", "SQL", "", "result"},
		{"SQLNumbered", "SQL 2", "", "result_2"},
		{"SQLQuery", "SQL Query", "", "result"},
		{"SQLQueryNumbered", "SQL Query 12", "", "result_12"},
		{"SQLQueryNormalised", "sql_query_3", "", "result_3"},
		{"SQLQueryNoNumber", "SQL Query x", "", "sql_query_x"},
		{"SQLPrefixOnly", "SQLite data", "", "sqlite_data"},
		{"SQLQueries", "SQL Queries", "", "sql_queries"},
		{"SQLTrailingUnderscore", "sql_", "", "sql_"},

		// Titles turned into names.
		{"LeadingDigit", "2024 sales.csv", "", "_2024_sales"},
		{"Spaces", "Daily Orders", "", "daily_orders"},
		{"NonASCII", "Umsätze 2024", "", "ums_tze_2024"},
		// A character outside the BMP is two UTF-16 code units in
		// JavaScript, so two underscores.
		{"Emoji", "📈 Revenue", "", "___revenue"},
		{"TooLong", long, "", strings.ToLower(long[:63])},
		{"TooLongAfterDigitPrefix", "1" + long, "", "_1" + strings.ToLower(long[:61])},
		{"OnlyLastExtension", "archive.tar.gz", "", "archive_tar"},
		{"Slash", "dir/file", "", "dir_file"},
		{"DotInDirectory", "my.dir/file", "", "my_dir_file"},
		{"TrailingDot", "file.", "", "file_"},
		// A title that leaves nothing: the id, by the title rule (rule 8).
		{"OnlyExtension", ".csv", "", "c1"},
		{"EmptyTitle", "", "", "c1"},

		// resultName, when valid, wins over the title.
		{"ValidResultName", "Daily Orders", "orders", "orders"},
		{"ResultNameKeepsCase", "Daily Orders", "MyOrders", "MyOrders"},
		{"ResultNameUnderscore", "SQL", "_tmp1", "_tmp1"},
		{"ResultNameLeadingDigit", "Daily Orders", "1abc", "daily_orders"},
		{"ResultNameDash", "Daily Orders", "my-table", "daily_orders"},
		{"ResultNameSpace", "Daily Orders", "a b", "daily_orders"},
		{"ResultNameEmpty", "Daily Orders", "", "daily_orders"},
		{"ResultNameNonASCII", "SQL 4", "tabellé", "result_4"},
		{"InvalidResultNameEmptyTitle", "", "my-table", "c1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &cells.Cell{ID: "c1", Type: cells.TypeSQL, Title: tt.title, ResultName: tt.resultName}
			if got := cells.ResultName(c); got != tt.want {
				t.Errorf("ResultName(title %q, resultName %q) = %q, want %q", tt.title, tt.resultName, got, tt.want)
			}
		})
	}
}

func TestArtifactSchema(t *testing.T) {
	tests := []struct {
		name       string
		id         string
		schemaName string
		want       string
	}{
		{"FromID", "nb1", "", "artifact_nb1"},
		{"Dash", "nb-1", "", "artifact_nb_1"},
		{"Dot", "nb.v2", "", "artifact_nb_v2"},
		{"UpperCase", "Sales_NB", "", "artifact_sales_nb"},
		{"Mixed", "My-Notebook.V2", "", "artifact_my_notebook_v2"},
		{"UUID", "3F2504E0-4F89-11D3", "", "artifact_3f2504e0_4f89_11d3"},
		{"SchemaName", "nb-1", "reports", "reports"},
		{"SchemaNameKeptAsWritten", "nb1", "Artifact_NB1", "Artifact_NB1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &cells.Artifact{ID: tt.id, SchemaName: tt.schemaName}
			if got := cells.ArtifactSchema(a); got != tt.want {
				t.Errorf("ArtifactSchema(id %q, schemaName %q) = %q, want %q", tt.id, tt.schemaName, got, tt.want)
			}
		})
	}
}

// Rule 8: a cell with neither a valid resultName nor a usable title is
// named from its id by the title rule; an id that leaves nothing too is
// an invalid-name (empty).
func TestResultName_FromID(t *testing.T) {
	tests := []struct{ id, title, want string }{
		{"c1", "", "c1"},
		{"Cc6Gg", "", "cc6gg"},
		{"2f-9a", "", "_2f_9a"},
		{"SQL 3", "", "result_3"},
		{"k9", ".csv", "k9"},
		{".csv", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			c := &cells.Cell{ID: tt.id, Type: cells.TypeSQL, Title: tt.title}
			if got := cells.ResultName(c); got != tt.want {
				t.Errorf("ResultName(id %q, title %q) = %q, want %q", tt.id, tt.title, got, tt.want)
			}
		})
	}
}
