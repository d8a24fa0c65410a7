package mysql_test

import (
	"strings"
	"testing"

	"github.com/cellsd/cellsd/connectors"
	"github.com/cellsd/cellsd/connectors/mysql"
)

func TestNewConfig(t *testing.T) {
	t.Setenv("CELLSD_TEST_MY_PW", "pa:ss@word")
	cfg, err := mysql.NewConfig(connectors.Connection{ID: "m", Engine: connectors.EngineMySQL, Host: "db.internal", Port: "3307",
		Database: "shop", User: "reader", PasswordEnv: "CELLSD_TEST_MY_PW", TLS: "skip-verify", StatementTimeout: "2s"})
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Driver
	if d.Addr != "db.internal:3307" || d.DBName != "shop" || d.User != "reader" || d.Passwd != "pa:ss@word" || d.TLSConfig != "skip-verify" ||
		!cfg.ReadOnly || cfg.StatementTimeout.Seconds() != 2 || d.Params["time_zone"] != "'+00:00'" {
		t.Errorf("config %+v", cfg)
	}
	cfg, err = mysql.NewConfig(connectors.Connection{ID: "m", Engine: connectors.EngineMySQL, DSN: "mysql://u:secret@h/db?tls=true"})
	if err != nil || cfg.Driver.Addr != "h:3306" || cfg.Driver.Passwd != "secret" || cfg.Driver.TLSConfig != "true" {
		t.Errorf("mysql:// dsn: %+v %v", cfg, err)
	}
	_, err = mysql.NewConfig(connectors.Connection{ID: "m", Engine: connectors.EngineMySQL, DSN: "u:s3cr3t@tcp(h:1)/db?badparam=%zz"})
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("a bad dsn: %v", err)
	}
	for _, c := range []connectors.Connection{
		{ID: "p", Engine: connectors.EnginePostgres, TLS: "true"},
		{ID: "m", Engine: connectors.EngineMySQL, TLS: "always"},
	} {
		if _, err := connectors.NewRegistry(c); err == nil || !strings.Contains(err.Error(), "tls") {
			t.Errorf("%s: tls %q: err = %v", c.ID, c.TLS, err)
		}
	}
}
