package e2e

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv"
)

// tableID checks that DDL returned exactly one {tableId} row and returns it.
func tableID(t testing.TB, rows []*ionvalue.Value) string {
	t.Helper()
	if len(rows) != 1 || len(rows[0].Fields) != 1 {
		t.Fatalf("DDL returned %v, want one {tableId} row", testenv.IonTexts(rows))
	}
	id := strField(t, rows[0], "tableId")
	if len(id) != 22 {
		t.Fatalf("tableId %q is not 22 characters", id)
	}
	return id
}

func tableNames(t testing.TB, drv *qldbdriver.QLDBDriver) []string {
	t.Helper()
	names, err := drv.GetTableNames(bg)
	if err != nil {
		t.Fatalf("GetTableNames: %v", err)
	}
	slices.Sort(names)
	return names
}

// checkRevision checks a committed-view or history row: its shape, that its
// hash recomputes from data and metadata, and that the block at its address
// holds the same revision.
func checkRevision(t testing.TB, l interface {
	Block(uint64) (*journal.Block, bool, error)
}, strand string, row *ionvalue.Value) journal.Revision {
	t.Helper()
	for _, f := range []string{"blockAddress", "hash", "metadata"} {
		if row.Get(f) == nil {
			t.Fatalf("revision %v has no %s", row, f)
		}
	}
	rev, addr, err := journal.RevisionFromIon(row)
	if err != nil {
		t.Fatalf("revision %v: %v", row, err)
	}
	if addr.StrandID != strand {
		t.Errorf("revision strand %s, ledger strand %s", addr.StrandID, strand)
	}
	if h := journal.RevisionHash(rev.Data, rev.Metadata); !bytes.Equal(h, rev.Hash) {
		t.Errorf("revision %s v%d: hash %x, recomputed %x", rev.Metadata.ID, rev.Metadata.Version, rev.Hash, h)
	}
	b, ok, err := l.Block(addr.SequenceNo)
	if err != nil || !ok {
		t.Fatalf("block %d of revision: ok=%v err=%v", addr.SequenceNo, ok, err)
	}
	if b.TransactionID != rev.Metadata.TxID {
		t.Errorf("revision txId %s, block %d transactionId %s", rev.Metadata.TxID, addr.SequenceNo, b.TransactionID)
	}
	found := false
	for _, r := range b.Revisions {
		if r.Metadata.ID == rev.Metadata.ID && bytes.Equal(r.Hash, rev.Hash) {
			found = true
		}
	}
	if !found {
		t.Errorf("block %d has no revision %s with hash %x", addr.SequenceNo, rev.Metadata.ID, rev.Hash)
	}
	return rev
}

// TestStatementClasses runs every statement class through the official
// driver against a real node: DDL, the INSERT forms, SELECT features,
// UPDATE/DELETE/FROM, the committed view, history, the catalogue, and the
// statement errors.
func TestStatementClasses(t *testing.T) {
	n, drv := servertest.StartLedger(t, "statements", nil)
	l := n.LedgerEngine("statements")

	// DDL returns {tableId}; CREATE INDEX returns the indexed table's id.
	personID := tableID(t, servertest.MustQuery(t, drv, "CREATE TABLE Person"))
	if id := tableID(t, servertest.MustQuery(t, drv, "CREATE INDEX ON Person (GovId)")); id != personID {
		t.Errorf("CREATE INDEX returned tableId %s, want the table's %s", id, personID)
	}
	vehicleID := tableID(t, servertest.MustQuery(t, drv, "CREATE TABLE Vehicle"))
	if got := tableNames(t, drv); !slices.Equal(got, []string{"Person", "Vehicle"}) {
		t.Errorf("GetTableNames = %v, want [Person Vehicle]", got)
	}

	// The INSERT forms; DML returns one {documentId} per document.
	p1 := docIDs(t, servertest.MustQuery(t, drv, "INSERT INTO Person VALUE {'GovId': 'P1', 'Name': 'Ann', 'Age': 31, 'Tags': ['a', 'b'], 'Addr': {'City': 'Oslo'}}"))
	p23 := docIDs(t, servertest.MustQuery(t, drv, "INSERT INTO Person << {'GovId': 'P2', 'Name': 'Bob', 'Age': 25}, ? >>",
		map[string]any{"GovId": "P3", "Name": "Cat", "Age": 40, "Nick": nil}))
	type person struct {
		GovID string `ion:"GovId"`
		Name  string `ion:"Name"`
		Age   int    `ion:"Age"`
	}
	p4 := docIDs(t, servertest.MustQuery(t, drv, "INSERT INTO Person ?", person{"P4", "Dan", 52}))
	if len(p1) != 1 || len(p23) != 2 || len(p4) != 1 {
		t.Fatalf("INSERT returned %d, %d, %d ids; want 1, 2, 1", len(p1), len(p23), len(p4))
	}
	docIDs(t, servertest.MustQuery(t, drv, "INSERT INTO Vehicle << {'VIN': 'V1', 'Owner': 'P1'}, {'VIN': 'V2', 'Owner': 'P3'} >>"))
	ids := map[string]bool{p1[0]: true, p23[0]: true, p23[1]: true, p4[0]: true}
	if len(ids) != 4 {
		t.Fatalf("document ids are not distinct: %v %v %v", p1, p23, p4)
	}

	selects := []struct {
		stmt   string
		params []any
		want   []string
	}{
		{"SELECT * FROM Person WHERE GovId = 'P1'", nil,
			[]string{`{GovId:"P1",Name:"Ann",Age:31,Tags:["a","b"],Addr:{City:"Oslo"}}`}},
		{"SELECT VALUE Name FROM Person", nil, []string{`"Ann"`, `"Bob"`, `"Cat"`, `"Dan"`}},
		{"SELECT p.Name AS n, p.Addr.City AS city FROM Person AS p WHERE p.GovId = ?", []any{"P1"},
			[]string{`{n:"Ann",city:"Oslo"}`}},
		{"SELECT p.Name, p.Tags[1] AS second FROM Person AS p WHERE p.GovId = 'P1'", nil,
			[]string{`{Name:"Ann",second:"b"}`}},
		{"SELECT pid FROM Person AS p BY pid WHERE p.GovId = 'P2'", nil,
			[]string{fmt.Sprintf(`{pid:%q}`, p23[0])}},
		{"SELECT p.Name FROM Person AS p BY pid WHERE pid = ?", []any{p23[1]}, []string{`{Name:"Cat"}`}},
		{"SELECT t, i FROM Person AS p, p.Tags AS t AT i WHERE p.GovId = 'P1'", nil,
			[]string{`{t:"a",i:0}`, `{t:"b",i:1}`}},
		{"SELECT p.Name, v.VIN FROM Person AS p, Vehicle AS v WHERE p.GovId = v.Owner", nil,
			[]string{`{Name:"Ann",VIN:"V1"}`, `{Name:"Cat",VIN:"V2"}`}},
		{"SELECT VALUE Name FROM Person WHERE Age = 31", nil, []string{`"Ann"`}},
		{"SELECT VALUE Name FROM Person WHERE Age <> 31", nil, []string{`"Bob"`, `"Cat"`, `"Dan"`}},
		{"SELECT VALUE Name FROM Person WHERE Age < 31", nil, []string{`"Bob"`}},
		{"SELECT VALUE Name FROM Person WHERE Age > 31", nil, []string{`"Cat"`, `"Dan"`}},
		{"SELECT VALUE Name FROM Person WHERE Age <= 31", nil, []string{`"Ann"`, `"Bob"`}},
		{"SELECT VALUE Name FROM Person WHERE Age >= 40", nil, []string{`"Cat"`, `"Dan"`}},
		{"SELECT VALUE Name FROM Person WHERE Age > 20 AND Age < 35", nil, []string{`"Ann"`, `"Bob"`}},
		{"SELECT VALUE Name FROM Person WHERE Age < 26 OR Age > 50", nil, []string{`"Bob"`, `"Dan"`}},
		{"SELECT VALUE Name FROM Person WHERE NOT (Age > 30)", nil, []string{`"Bob"`}},
		{"SELECT VALUE Name FROM Person WHERE GovId IN ('P1', 'P4')", nil, []string{`"Ann"`, `"Dan"`}},
		{"SELECT VALUE Name FROM Person WHERE GovId IN (?, ?)", []any{"P2", "P3"}, []string{`"Bob"`, `"Cat"`}},
		// PartiQL: IS NULL holds for null and MISSING; IS MISSING only for MISSING.
		{"SELECT VALUE Name FROM Person WHERE Nick IS NULL", nil, []string{`"Ann"`, `"Bob"`, `"Cat"`, `"Dan"`}},
		{"SELECT VALUE Name FROM Person WHERE Nick IS NOT NULL", nil, nil},
		{"SELECT VALUE Name FROM Person WHERE Nick IS MISSING", nil, []string{`"Ann"`, `"Bob"`, `"Dan"`}},
		{"SELECT VALUE Name FROM Person WHERE Nick IS NOT MISSING", nil, []string{`"Cat"`}},
		{"SELECT COUNT(*) FROM Person", nil, []string{`{_1:4}`}},
		{"SELECT COUNT(*) FROM Person WHERE Age > 30", nil, []string{`{_1:3}`}},
	}
	for _, c := range selects {
		rows, err := servertest.Query(drv, c.stmt, c.params...)
		if err != nil {
			t.Errorf("%s %v: %v", c.stmt, c.params, err)
			continue
		}
		testenv.WantValues(t, c.stmt, rows, c.want...)
	}

	// The catalogue: the index is ONLINE once its transaction committed.
	ix := servertest.MustQuery(t, drv, "SELECT VALUE indexes[0] FROM information_schema.user_tables WHERE name = 'Person'")
	if len(ix) != 1 || strField(t, ix[0], "expr") != "[GovId]" || strField(t, ix[0], "status") != "ONLINE" || len(strField(t, ix[0], "indexId")) != 22 {
		t.Errorf("Person's index in user_tables = %v, want {indexId, expr:\"[GovId]\", status:\"ONLINE\"}", testenv.IonTexts(ix))
	}

	// UPDATE SET / REMOVE, BY, and the FROM forms.
	dml := []struct {
		stmt   string
		params []any
		want   []string // document ids
	}{
		{"UPDATE Person SET Age = 32 WHERE GovId = 'P1'", nil, p1},
		{"UPDATE Person AS p SET p.Addr.Zip = '0150', p.Nick = 'Annie' WHERE p.GovId = 'P1'", nil, p1},
		{"UPDATE Person REMOVE Tags WHERE GovId = 'P1'", nil, p1},
		{"UPDATE Person AS p BY pid SET p.Checked = true WHERE pid = ?", []any{p23[0]}, p23[:1]},
		{"FROM Person AS p WHERE p.GovId = 'P2' SET p.Tags = ['x']", nil, p23[:1]},
		{"FROM Person AS p WHERE p.GovId = 'P2' INSERT INTO p.Tags VALUE 'y'", nil, p23[:1]},
		{"FROM Person AS p WHERE p.GovId = 'P2' REMOVE p.Age", nil, p23[:1]},
		{"UPDATE Person SET Age = 1 WHERE GovId = 'nobody'", nil, nil},
		{"DELETE FROM Person WHERE GovId = 'P4'", nil, p4},
	}
	for _, c := range dml {
		rows, err := servertest.Query(drv, c.stmt, c.params...)
		if err != nil {
			t.Errorf("%s: %v", c.stmt, err)
			continue
		}
		if got := docIDs(t, rows); !slices.Equal(got, c.want) {
			t.Errorf("%s returned documentIds %v, want %v", c.stmt, got, c.want)
		}
	}
	testenv.WantValues(t, "after DML", servertest.MustQuery(t, drv, "SELECT * FROM Person WHERE GovId IN ('P1', 'P2', 'P4')"),
		`{GovId:"P1",Name:"Ann",Age:32,Addr:{City:"Oslo",Zip:"0150"},Nick:"Annie"}`,
		`{GovId:"P2",Name:"Bob",Checked:true,Tags:["x","y"]}`)
	testenv.WantValues(t, "COUNT after DELETE", servertest.MustQuery(t, drv, "SELECT COUNT(*) FROM Person"), `{_1:3}`)

	// The committed view: {blockAddress, hash, data, metadata}, hash recomputes.
	cv := servertest.MustQuery(t, drv, "SELECT * FROM _ql_committed_Person WHERE data.GovId = 'P1'")
	if len(cv) != 1 {
		t.Fatalf("committed view returned %d rows, want 1", len(cv))
	}
	rev := checkRevision(t, l, l.StrandID, cv[0])
	if rev.Metadata.ID != p1[0] || rev.Metadata.Version != 3 || len(rev.Metadata.TxID) != 22 || rev.Metadata.TxTime.IsZero() {
		t.Errorf("committed metadata %+v, want id %s version 3 with txId and txTime", rev.Metadata, p1[0])
	}
	testenv.WantValues(t, "committed data", []*ionvalue.Value{rev.Data},
		`{GovId:"P1",Name:"Ann",Age:32,Addr:{City:"Oslo",Zip:"0150"},Nick:"Annie"}`)

	// history(): every revision of P1 (versions 0..3), and P4's deletion.
	hist := servertest.MustQuery(t, drv, "SELECT * FROM history(Person) AS h WHERE h.metadata.id = ?", p1[0])
	if len(hist) != 4 {
		t.Fatalf("history of P1 has %d revisions, want 4", len(hist))
	}
	versions := map[uint64]bool{}
	for _, h := range hist {
		versions[checkRevision(t, l, l.StrandID, h).Metadata.Version] = true
	}
	if len(versions) != 4 || !versions[0] || !versions[3] {
		t.Errorf("history versions %v, want 0..3", versions)
	}
	del := servertest.MustQuery(t, drv, "SELECT h.metadata.version AS v, h.data AS d FROM history(Person) AS h WHERE h.metadata.id = ?", p4[0])
	testenv.WantValues(t, "history of a deleted document", del, `{v:0,d:{GovId:"P4",Name:"Dan",Age:52}}`, `{v:1}`)

	// DROP TABLE / UNDROP TABLE "id".
	if id := tableID(t, servertest.MustQuery(t, drv, "DROP TABLE Vehicle")); id != vehicleID {
		t.Errorf("DROP TABLE returned %s, want %s", id, vehicleID)
	}
	if got := tableNames(t, drv); !slices.Equal(got, []string{"Person"}) {
		t.Errorf("GetTableNames after DROP = %v, want [Person]", got)
	}
	testenv.WantValues(t, "dropped table status", servertest.MustQuery(t, drv, "SELECT status FROM information_schema.user_tables WHERE name = 'Vehicle'"),
		`{status:"INACTIVE"}`)
	if _, err := servertest.Query(drv, "SELECT * FROM Vehicle"); err == nil {
		t.Error("SELECT from a dropped table succeeded")
	} else if code, _ := servertest.StatementError(t, err); code != "432" {
		t.Errorf("SELECT from a dropped table: code %q, want 432 (%v)", code, err)
	}
	if id := tableID(t, servertest.MustQuery(t, drv, fmt.Sprintf("UNDROP TABLE \"%s\"", vehicleID))); id != vehicleID {
		t.Errorf("UNDROP TABLE returned %s, want %s", id, vehicleID)
	}
	testenv.WantValues(t, "undropped table keeps its documents", servertest.MustQuery(t, drv, "SELECT COUNT(*) FROM Vehicle"), `{_1:2}`)
	if got := tableNames(t, drv); !slices.Equal(got, []string{"Person", "Vehicle"}) {
		t.Errorf("GetTableNames after UNDROP = %v", got)
	}

	// Statement errors: BadRequest with QLDB's numeric codes, nothing written.
	before := l.Next()
	errs := []struct {
		stmt, code, msg string
	}{
		{"CREATE TABLE Person", "412", "Table with name: USER.Person already exists"},
		{"DELETE FROM NonExistentTable", "432", "Semantic Error: at line 1, column 13: No such variable named 'NonExistentTable'"},
	}
	for _, c := range errs {
		_, err := servertest.Query(drv, c.stmt)
		if err == nil {
			t.Errorf("%s succeeded", c.stmt)
			continue
		}
		code, msg := servertest.StatementError(t, err)
		if code != c.code || !strings.Contains(msg, c.msg) {
			t.Errorf("%s: code %q message %q; want code %s containing %q", c.stmt, code, msg, c.code, c.msg)
		}
	}
	if after := l.Next(); after != before {
		t.Errorf("failed transactions wrote blocks: Next %d -> %d", before, after)
	}
}

// TestFailedStatementLeavesNoTrace checks that a transaction stays usable
// after statements fail, that a failing multi-document UPDATE is undone as
// a whole, and that only the successful statements reach the journal.
func TestFailedStatementLeavesNoTrace(t *testing.T) {
	n, drv := servertest.StartLedger(t, "failed", nil)
	l := n.LedgerEngine("failed")
	servertest.MustQuery(t, drv, "CREATE TABLE T")
	servertest.MustQuery(t, drv, "INSERT INTO T << {'k': 1, 'n': 10}, {'k': 2, 'n': 0}, {'k': 3, 'n': 5} >>")

	var newID string
	_, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
		if _, err := servertest.Rows(tx, "INSERT INTO Nope VALUE {'a': 1}"); err == nil {
			return nil, fmt.Errorf("INSERT into an unknown table succeeded")
		} else if code, _ := servertest.StatementError(t, err); code != "432" {
			return nil, fmt.Errorf("unknown table: code %q (%v), want 432", code, err)
		}
		// Fails on the document with n = 0 whatever the scan order; the
		// other documents it may already have updated must be restored.
		if _, err := servertest.Rows(tx, "UPDATE T AS t SET t.r = 100 / t.n"); err == nil {
			return nil, fmt.Errorf("division by zero succeeded")
		}
		if _, err := servertest.Rows(tx, "SELEC nonsense"); err == nil {
			return nil, fmt.Errorf("a syntax error succeeded")
		}
		rows, err := servertest.Rows(tx, "INSERT INTO T VALUE {'k': 4}")
		if err != nil {
			return nil, fmt.Errorf("statement after failures: %w", err)
		}
		newID = docIDs(t, rows)[0]
		// The transaction's own view shows no trace either.
		rows, err = servertest.Rows(tx, "SELECT COUNT(*) FROM T WHERE r IS NOT MISSING")
		if err != nil {
			return nil, err
		}
		if !testenv.SameValues(rows, []*ionvalue.Value{testenv.Ion(t, "{_1:0}")}) {
			return nil, fmt.Errorf("inside the transaction the failed UPDATE is visible: %v", testenv.IonTexts(rows))
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	testenv.WantValues(t, "documents after commit", servertest.MustQuery(t, drv, "SELECT * FROM T"),
		`{k:1,n:10}`, `{k:2,n:0}`, `{k:3,n:5}`, `{k:4}`)

	bs := servertest.VerifyChain(t, l)
	last := bs[len(bs)-2] // the final SELECT wrote the last block
	if !servertest.HasStatement(last, "INSERT INTO T VALUE {'k': 4}") {
		t.Fatalf("block %d is not the transaction under test: %+v", last.Address.SequenceNo, last.TransactionInfo.Statements)
	}
	var stmts []string
	for _, s := range last.TransactionInfo.Statements {
		stmts = append(stmts, s.Statement)
	}
	if !slices.Equal(stmts, []string{"INSERT INTO T VALUE {'k': 4}", "SELECT COUNT(*) FROM T WHERE r IS NOT MISSING"}) {
		t.Errorf("journal lists statements %q; want only the successful ones", stmts)
	}
	if len(last.TransactionInfo.Documents) != 1 || last.TransactionInfo.Documents[0].DocumentID != newID {
		t.Errorf("journal lists documents %+v, want only %s", last.TransactionInfo.Documents, newID)
	}
	for _, r := range last.Revisions {
		if !r.IsSystem() && r.Metadata.ID != newID {
			t.Errorf("block has a revision of %s, which only a failed statement touched", r.Metadata.ID)
		}
		if r.Data != nil && r.Data.Get("r") != nil {
			t.Errorf("revision %v carries the failed UPDATE's field", r.Data)
		}
	}
}
