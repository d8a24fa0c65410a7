package mysqltest

import (
	"database/sql"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// WideTable creates table wide in db: rows rows of 9 columns (BIGINT, INT,
// INT UNSIGNED, VARCHAR, DECIMAL(12,2), DATETIME(6), TINYINT, DOUBLE,
// DATE), the table the data-path benchmark moves, and returns the query
// that reads it.
func WideTable(tb testing.TB, db *sql.DB, rows int) string {
	tb.Helper()
	if _, err := db.Exec(fmt.Sprintf(`
		CREATE TABLE wide (id BIGINT PRIMARY KEY, k INT, u INT UNSIGNED, name VARCHAR(32), amount DECIMAL(12,2),
			at DATETIME(6), flag TINYINT, ratio DOUBLE, day DATE) ENGINE=InnoDB;
		INSERT INTO wide SELECT seq, seq %% 1000, seq * 7, CONCAT('customer ', seq), (seq %% 100000) / 100,
			TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq SECOND + INTERVAL (seq %% 1000) MICROSECOND,
			seq %% 2, seq / 7e0, DATE'2024-01-01' + INTERVAL (seq %% 366) DAY
		FROM seq_1_to_%d;`, rows)); err != nil {
		tb.Fatal(err)
	}
	return "SELECT * FROM wide"
}

// CLIFloor times the floor of moving query's rows out of MariaDB: the
// mariadb client, `mariadb --quick --batch -e query > /dev/null`, on the
// same server and database.
func CLIFloor(tb testing.TB, db, query string) time.Duration {
	tb.Helper()
	cfg := Config(tb)
	host, port := cfg.Addr, "3306"
	if i := strings.LastIndexByte(cfg.Addr, ':'); i >= 0 {
		host, port = cfg.Addr[:i], cfg.Addr[i+1:]
	}
	args := []string{"--quick", "--batch", "--protocol=tcp", "-h", host, "-P", port, "-u", cfg.User, "-D", db, "-e", query}
	if cfg.Passwd != "" {
		args = append(args, "-p"+cfg.Passwd)
	}
	cmd := exec.Command("mariadb", args...) // Stdout nil: the null device
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		tb.Fatalf("mariadb: %v: %s", err, stderr.String())
	}
	return time.Since(start)
}
