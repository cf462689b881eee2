package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/store/postgres/pgtest"
)

// TestPostgresStoreUnreachable: a --store naming a server that does not
// answer fails the start at once, saying where, without the password.
func TestPostgresStoreUnreachable(t *testing.T) {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Store = "postgres://strand:s3cret@127.0.0.1:1/strand?sslmode=disable"
	n, err := server.Open(cfg, nil)
	if err == nil {
		n.Close()
		t.Fatal("a node started on an unreachable PostgreSQL")
	}
	if msg := err.Error(); !strings.Contains(msg, "--store") || !strings.Contains(msg, "127.0.0.1:1/strand") || strings.Contains(msg, "s3cret") {
		t.Errorf("start on an unreachable PostgreSQL: %v", err)
	}
}

// TestPostgresStoreLeavesDataDirEmpty: on PostgreSQL the data directory is
// unused (no lock file, no tip records, no Pebble files), and a restart on
// the same database finds the ledger and its documents.
func TestPostgresStoreLeavesDataDirEmpty(t *testing.T) {
	url := pgtest.NewDatabase(t)
	dir := t.TempDir()
	n := servertest.Start(t, func(c *config.Config) { c.Store, c.DataDir = url, dir })
	n.CreateLedger("pg")
	servertest.MustQuery(t, n.Driver("pg"), "CREATE TABLE T")
	servertest.MustQuery(t, n.Driver("pg"), "INSERT INTO T VALUE {'a': 1}")
	n.Stop()
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Errorf("data directory after a run on PostgreSQL: %v %v, want empty", entries, err)
	}
	n2 := servertest.StartConfig(t, n.Config)
	if rows := servertest.MustQuery(t, n2.Driver("pg"), "SELECT * FROM T"); len(rows) != 1 {
		t.Fatalf("after a restart on the same database: %d rows, want 1", len(rows))
	}
	if _, err := os.Stat(filepath.Join(dir, "pebble")); !os.IsNotExist(err) {
		t.Errorf("a Pebble directory appeared: %v", err)
	}
}
