package servertest

import (
	"testing"

	"github.com/strand-db/strand/internal/audit"
	pgstore "github.com/strand-db/strand/internal/store/postgres"
)

// AuditDatabase audits every ledger of the PostgreSQL database at url (its
// nodes stopped) as `strand verify --store` does, failing the test (naming
// when) on an error or a failed check, and returns the report. The pool has
// 64 connections, as strand verify's: the audit holds one iterator, and so
// one connection, per level of a ledger's Merkle tree.
func AuditDatabase(t testing.TB, url, when string) *audit.Report {
	t.Helper()
	st, err := pgstore.Open(url, pgstore.Options{MaxConns: 64})
	if err != nil {
		t.Fatalf("audit %s: %v", when, err)
	}
	defer st.Close()
	rep, err := audit.Run(st, audit.Options{})
	if err != nil {
		t.Fatalf("audit %s: %v", when, err)
	}
	if !rep.OK() {
		t.Fatalf("audit %s: %v", when, rep.FirstFailure())
	}
	return rep
}
