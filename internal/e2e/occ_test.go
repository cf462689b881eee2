package e2e

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/qldbsession/types"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv"
	"github.com/strand-db/strand/internal/txn"
)

// wantOCC fails unless err is the typed OccConflictException and the body
// on the wire carried no Code member (which would make older SDKs return a
// GenericAPIError that the driver does not retry).
func wantOCC(t testing.TB, r *rawSession, err error) {
	t.Helper()
	var occ *types.OccConflictException
	if !errors.As(err, &occ) {
		t.Fatalf("commit error %v (%T), want *types.OccConflictException", err, err)
	}
	if !strings.Contains(occ.ErrorMessage(), "Optimistic concurrency control (OCC) failure") {
		t.Errorf("OCC message %q", occ.ErrorMessage())
	}
	body := r.rec.lastBody(t)
	for k := range body {
		if strings.EqualFold(k, "code") {
			t.Errorf("OccConflictException body has a %s member: %v", k, body)
		}
	}
	if typ, _ := body["__type"].(string); !strings.HasSuffix(typ, "#OccConflictException") {
		t.Errorf("OccConflictException body __type %q", typ)
	}
}

// accountsLedger starts a node with table Acc holding {id:'a', bal:0} and
// {id:'b', bal:0}.
func accountsLedger(t *testing.T, name string) (*servertest.Node, *qldbdriver.QLDBDriver, *txn.LedgerEngine) {
	t.Helper()
	n, drv := servertest.StartLedger(t, name, nil)
	servertest.MustQuery(t, drv, "CREATE TABLE Acc")
	servertest.MustQuery(t, drv, "INSERT INTO Acc << {'id': 'a', 'bal': 0}, {'id': 'b', 'bal': 0} >>")
	return n, drv, n.LedgerEngine(name)
}

func balance(t testing.TB, drv *qldbdriver.QLDBDriver, id string) int64 {
	t.Helper()
	rows := servertest.MustQuery(t, drv, "SELECT VALUE bal FROM Acc WHERE id = ?", id)
	if len(rows) != 1 {
		t.Fatalf("account %s: %v", id, testenv.IonTexts(rows))
	}
	return rows[0].Int
}

// TestDriverRetriesOCC: two transactions update the same document; the one
// that commits second gets OccConflictException, the driver retries it on
// the same session and the retry sees the winner's write.
func TestDriverRetriesOCC(t *testing.T) {
	cases := []struct {
		name   string
		update bool // the loser writes (else it only reads: a read-only conflict)
	}{
		{"read-write", true},
		{"read-only", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, drv, _ := accountsLedger(t, "retry")
			attempts := 0
			_, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
				attempts++
				rows, err := servertest.Rows(tx, "SELECT VALUE bal FROM Acc WHERE id = 'a'")
				if err != nil || len(rows) != 1 {
					return nil, errors.Join(err, errors.New("balance not found"))
				}
				if attempts == 1 {
					// A competing transaction on another session commits first.
					if _, err := servertest.Query(drv, "UPDATE Acc SET bal = bal + 100 WHERE id = 'a'"); err != nil {
						return nil, err
					}
				}
				if c.update {
					_, err = servertest.Rows(tx, "UPDATE Acc SET bal = ? WHERE id = 'a'", rows[0].Int+1)
				}
				return nil, err
			})
			if err != nil {
				t.Fatal(err)
			}
			if attempts != 2 {
				t.Errorf("function ran %d times, want 2 (one OCC retry)", attempts)
			}
			want := int64(100)
			if c.update {
				want = 101
			}
			if got := balance(t, drv, "a"); got != want {
				t.Errorf("balance %d, want %d (a lost update?)", got, want)
			}
		})
	}
}

// TestRawOCCConflict holds one transaction open on a raw session while
// another commits, then commits the first: OccConflictException (typed, no
// Code), nothing written, and the session still usable.
func TestRawOCCConflict(t *testing.T) {
	cases := []struct {
		name  string
		stmts []string // the held transaction's statements
	}{
		{"update after scan", []string{"SELECT * FROM Acc WHERE id = 'a'", "UPDATE Acc SET bal = 5 WHERE id = 'a'"}},
		{"blind update", []string{"UPDATE Acc SET bal = 5 WHERE id = 'a'"}},
		{"read-only scan", []string{"SELECT VALUE bal FROM Acc"}},
		{"read-only by id", []string{"SELECT VALUE bal FROM Acc AS x BY xid WHERE xid = ?"}},
		{"delete", []string{"DELETE FROM Acc WHERE id = 'a'"}},
		{"count", []string{"SELECT COUNT(*) FROM Acc"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, drv, l := accountsLedger(t, "rawocc")
			aID := strField(t, servertest.MustQuery(t, drv, "SELECT xid FROM Acc AS x BY xid WHERE x.id = 'a'")[0], "xid")
			r := newRaw(t, n, "rawocc")
			r.begin()
			for _, s := range c.stmts {
				var params []any
				if strings.Contains(s, "?") {
					params = []any{aID}
				}
				if _, err := r.exec(s, params...); err != nil {
					t.Fatalf("%s: %v", s, err)
				}
			}
			servertest.MustQuery(t, drv, "UPDATE Acc SET bal = 7 WHERE id = 'a'")
			before := l.Next()
			wantOCC(t, r, r.commit())
			if after := l.Next(); after != before {
				t.Errorf("the conflicting commit wrote a block: Next %d -> %d", before, after)
			}
			testenv.WantValues(t, "accounts after OCC", servertest.MustQuery(t, drv, "SELECT * FROM Acc"), `{id:"a",bal:7}`, `{id:"b",bal:0}`)

			// The session survives; the failed transaction is closed.
			r.begin()
			testenv.WantValues(t, "read on the same session", r.mustExec("SELECT VALUE bal FROM Acc WHERE id = 'a'"), `7`)
			if err := r.commit(); err != nil {
				t.Fatalf("commit on the session after OCC: %v", err)
			}
		})
	}
}

// TestOCCNoConflict: concurrent transactions that touch disjoint data both
// commit.
func TestOCCNoConflict(t *testing.T) {
	n, drv, _ := accountsLedger(t, "noocc")
	servertest.MustQuery(t, drv, "CREATE TABLE Other")
	aID := strField(t, servertest.MustQuery(t, drv, "SELECT xid FROM Acc AS x BY xid WHERE x.id = 'a'")[0], "xid")
	bID := strField(t, servertest.MustQuery(t, drv, "SELECT xid FROM Acc AS x BY xid WHERE x.id = 'b'")[0], "xid")
	r := newRaw(t, n, "noocc")
	r.begin()
	r.mustExec("SELECT * FROM Acc BY xid WHERE xid = ?", aID)
	r.mustExec("UPDATE Acc AS x BY xid SET x.bal = 1 WHERE xid = ?", aID)
	servertest.MustQuery(t, drv, "UPDATE Acc AS x BY xid SET x.bal = 2 WHERE xid = ?", bID)
	servertest.MustQuery(t, drv, "INSERT INTO Other VALUE {'z': 1}")
	if err := r.commit(); err != nil {
		t.Fatalf("commit after disjoint concurrent writes: %v", err)
	}
	testenv.WantValues(t, "accounts", servertest.MustQuery(t, drv, "SELECT * FROM Acc"), `{id:"a",bal:1}`, `{id:"b",bal:2}`)
}

// TestIndexLookupOCC: a transaction that read by an indexed equality
// conflicts with a concurrent change that adds, removes or changes a
// document with that key, and not with changes to other keys.
func TestIndexLookupOCC(t *testing.T) {
	cases := []struct {
		name       string
		concurrent string
		conflict   bool
	}{
		{"insert same key", "INSERT INTO T VALUE {'k': 'a', 'n': 9}", true},
		{"insert other key", "INSERT INTO T VALUE {'k': 'b', 'n': 9}", false},
		{"update moves a document into the key", "UPDATE T SET k = 'a' WHERE k = 'c'", true},
		{"update of the looked-up document", "UPDATE T SET n = 2 WHERE k = 'a'", true},
		{"update of another key's document", "UPDATE T SET n = 4 WHERE k = 'c'", false},
		{"delete of the looked-up document", "DELETE FROM T WHERE k = 'a'", true},
		{"delete of another key's document", "DELETE FROM T WHERE k = 'c'", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, drv := servertest.StartLedger(t, "idx", nil)
			servertest.MustQuery(t, drv, "CREATE TABLE T")
			servertest.MustQuery(t, drv, "CREATE INDEX ON T (k)")
			servertest.MustQuery(t, drv, "INSERT INTO T << {'k': 'a', 'n': 1}, {'k': 'c', 'n': 3} >>")
			r := newRaw(t, n, "idx")
			r.begin()
			testenv.WantValues(t, "lookup", r.mustExec("SELECT * FROM T WHERE k = 'a'"), `{k:"a",n:1}`)
			servertest.MustQuery(t, drv, c.concurrent)
			err := r.commit()
			if c.conflict {
				wantOCC(t, r, err)
			} else if err != nil {
				t.Fatalf("commit: %v; want no conflict", err)
			}
		})
	}
}

// TestCatalogOCC: a transaction that read the catalogue
// (information_schema.user_tables, as GetTableNames does) or resolved a
// table name conflicts with concurrent DDL that changes what it read.
func TestCatalogOCC(t *testing.T) {
	cases := []struct {
		name       string
		read       string
		concurrent string
		conflict   bool
	}{
		{"user_tables vs CREATE TABLE", "SELECT name FROM information_schema.user_tables WHERE status = 'ACTIVE'", "CREATE TABLE New", true},
		{"user_tables vs DROP TABLE", "SELECT name FROM information_schema.user_tables", "DROP TABLE Old", true},
		{"user_tables vs CREATE INDEX", "SELECT * FROM information_schema.user_tables", "CREATE INDEX ON Old (f)", true},
		{"unknown table vs CREATE TABLE of that name", "SELECT * FROM information_schema.user_tables WHERE name = 'New'", "CREATE TABLE New", true},
		{"table read vs DROP of that table", "SELECT * FROM Old", "DROP TABLE Old", true},
		{"table read vs CREATE of another table", "SELECT * FROM Old", "CREATE TABLE New", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, drv := servertest.StartLedger(t, "catalog", nil)
			servertest.MustQuery(t, drv, "CREATE TABLE Old")
			r := newRaw(t, n, "catalog")
			r.begin()
			r.mustExec(c.read)
			servertest.MustQuery(t, drv, c.concurrent)
			err := r.commit()
			if c.conflict {
				wantOCC(t, r, err)
			} else if err != nil {
				t.Fatalf("commit: %v; want no conflict", err)
			}
		})
	}
}

// TestCommitBeforeFirstReadDoesNotConflict: QLDB's OCC fails a commit only
// when data the transaction read was changed by another transaction after
// it was read. A change committed after StartTransaction but before the
// read is simply seen, and must not cause OccConflictException.
func TestCommitBeforeFirstReadDoesNotConflict(t *testing.T) {
	cases := []struct {
		name string
		read string
	}{
		{"scan", "SELECT VALUE bal FROM Acc WHERE id = 'a'"},
		{"by id", "SELECT VALUE x.bal FROM Acc AS x BY xid WHERE xid = ?"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, drv, _ := accountsLedger(t, "late")
			aID := strField(t, servertest.MustQuery(t, drv, "SELECT xid FROM Acc AS x BY xid WHERE x.id = 'a'")[0], "xid")
			r := newRaw(t, n, "late")
			r.begin()
			servertest.MustQuery(t, drv, "UPDATE Acc SET bal = 7 WHERE id = 'a'")
			var params []any
			if strings.Contains(c.read, "?") {
				params = []any{aID}
			}
			testenv.WantValues(t, "read after the other commit", r.mustExec(c.read, params...), `7`)
			r.mustExec("UPDATE Acc SET bal = 8 WHERE id = 'a'")
			if err := r.commit(); err != nil {
				t.Fatalf("commit: %v; the only concurrent change was committed before the read", err)
			}
			// A change after the read still conflicts.
			r.begin()
			r.mustExec(c.read, params...)
			servertest.MustQuery(t, drv, "UPDATE Acc SET bal = 9 WHERE id = 'a'")
			wantOCC(t, r, r.commit())
		})
	}
}
