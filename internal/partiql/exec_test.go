package partiql

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/testenv"
)

// wantErr checks that err is a *Error with the code and a message
// containing msg.
func wantErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v, want *Error %s %q", err, code, msg)
	}
	if pe.Code != code || !strings.Contains(pe.Message, msg) {
		t.Fatalf("error = %s %q, want %s containing %q", pe.Code, pe.Message, code, msg)
	}
}

func TestDDL(t *testing.T) {
	tx := newMemTx()
	res := exec(t, tx, "CREATE TABLE GoIntegrationTestTable")
	if len(res.Rows) != 1 || res.Rows[0].Get("tableId") == nil {
		t.Fatalf("CREATE TABLE rows = %s", rowsText(res.Rows))
	}
	tableID := res.Rows[0].Get("tableId").Text

	_, err := tryExec(tx, "CREATE TABLE GoIntegrationTestTable")
	wantErr(t, err, "412", "Table with name: USER.GoIntegrationTestTable already exists")

	res = exec(t, tx, "CREATE INDEX ON GoIntegrationTestTable (Name)")
	if got := rowsText(res.Rows); got != `{tableId:"`+tableID+`"}` {
		t.Fatalf("CREATE INDEX rows = %s", got)
	}
	_, err = tryExec(tx, "CREATE INDEX ON GoIntegrationTestTable (Name)")
	wantErr(t, err, "412", "Index on field: Name already exists")

	// The driver's index check and GetTableNames.
	res = exec(t, tx, "SELECT VALUE indexes[0] FROM information_schema.user_tables WHERE status = 'ACTIVE' AND name = 'GoIntegrationTestTable'")
	if len(res.Rows) != 1 || res.Rows[0].Get("expr").Text != "[Name]" || res.Rows[0].Get("status").Text != "ONLINE" {
		t.Fatalf("index row = %s", rowsText(res.Rows))
	}
	exec(t, tx, "CREATE TABLE Other")
	res = exec(t, tx, "SELECT name FROM information_schema.user_tables WHERE status = 'ACTIVE'")
	if got := rowsText(res.Rows); got != "{name:\"GoIntegrationTestTable\"}\n{name:\"Other\"}" {
		t.Fatalf("table names = %s", got)
	}

	res = exec(t, tx, "DROP TABLE GoIntegrationTestTable")
	if got := rowsText(res.Rows); got != `{tableId:"`+tableID+`"}` {
		t.Fatalf("DROP rows = %s", got)
	}
	_, err = tryExec(tx, "SELECT * FROM GoIntegrationTestTable")
	wantErr(t, err, "432", "Semantic Error: at line 1, column 15: No such variable named 'GoIntegrationTestTable'; No such variable named 'GoIntegrationTestTable'")
	res = exec(t, tx, "SELECT t.name, t.status FROM information_schema.user_tables AS t WHERE t.tableId = ?", ionvalue.String(tableID))
	if got := rowsText(res.Rows); got != `{name:"GoIntegrationTestTable",status:"INACTIVE"}` {
		t.Fatalf("catalog after drop = %s", got)
	}
	// A new table may take the dropped name; then UNDROP must refuse.
	exec(t, tx, "CREATE TABLE GoIntegrationTestTable")
	_, err = tryExec(tx, `UNDROP TABLE "`+tableID+`"`)
	wantErr(t, err, "412", "Table with name: USER.GoIntegrationTestTable already exists")
	exec(t, tx, "DROP TABLE GoIntegrationTestTable")
	res = exec(t, tx, `UNDROP TABLE "`+tableID+`"`)
	if got := rowsText(res.Rows); got != `{tableId:"`+tableID+`"}` {
		t.Fatalf("UNDROP rows = %s", got)
	}
	_, err = tryExec(tx, `UNDROP TABLE "`+tableID+`"`)
	wantErr(t, err, "412", "is already active")
	_, err = tryExec(tx, `UNDROP TABLE "nosuchid"`)
	wantErr(t, err, "432", "No such variable named 'nosuchid'")

	// DROP INDEX needs purge and a real index id.
	ix := exec(t, tx, "SELECT VALUE i.indexId FROM information_schema.user_tables AS t, t.indexes AS i WHERE t.name = 'GoIntegrationTestTable'")
	if len(ix.Rows) != 1 {
		t.Fatalf("indexes = %s", rowsText(ix.Rows))
	}
	_, err = tryExec(tx, `DROP INDEX "`+ix.Rows[0].Text+`" ON GoIntegrationTestTable`)
	wantErr(t, err, "400", "WITH (purge = true)")
	exec(t, tx, `DROP INDEX "`+ix.Rows[0].Text+`" ON GoIntegrationTestTable WITH (purge = true)`)
	_, err = tryExec(tx, `DROP INDEX "nope" ON GoIntegrationTestTable WITH (purge = true)`)
	wantErr(t, err, "432", "No such index 'nope'")

	for _, bad := range []string{`CREATE TABLE "1abc"`, `CREATE TABLE "a-b"`, `CREATE TABLE "_ql_committed_x"`, `CREATE TABLE "select"`, `CREATE TABLE "` + strings.Repeat("a", 129) + `"`} {
		_, err := tryExec(tx, bad)
		wantErr(t, err, "400", "invalid table name")
	}
	_, err = tryExec(tx, "DROP TABLE Nope")
	wantErr(t, err, "432", "No such variable named 'Nope'")
	_, err = tryExec(tx, "CREATE TABLE t WITH (aws_tags = `{a: \"b\"}`)")
	wantErr(t, err, "400", "aws_tags")
}

func TestUnknownTableMessage(t *testing.T) {
	_, err := tryExec(newMemTx(), "DELETE FROM NonExistentTable")
	wantErr(t, err, "432", "Semantic Error: at line 1, column 13: No such variable named 'NonExistentTable'; No such variable named 'NonExistentTable'")
	_, err = tryExec(newMemTx(), "INSERT INTO\n  Absent VALUE {}")
	wantErr(t, err, "432", "at line 2, column 3: No such variable named 'Absent'")
}

func itoa(n int) string { return ionvalue.MarshalText(ionvalue.Int(int64(n))) }

// seed creates table T with the given documents (Ion text).
func seed(t *testing.T, tx *memTx, table string, docs ...string) []string {
	t.Helper()
	if _, ok := tx.Table(table); !ok {
		exec(t, tx, "CREATE TABLE "+table)
	}
	var ids []string
	for _, d := range docs {
		res := exec(t, tx, "INSERT INTO "+table+" ?", testenv.Ion(t, d))
		ids = append(ids, docIDs(res)...)
	}
	tx.calls = nil
	return ids
}

func TestIndexUse(t *testing.T) {
	tx := newMemTx()
	seed(t, tx, "T", `{Name:"a",v:1}`, `{Name:"b",v:2}`, `{Name:"c",v:3}`)
	exec(t, tx, "CREATE INDEX ON T (Name)")

	tx.calls = nil
	res := exec(t, tx, "SELECT VALUE v FROM T WHERE Name = ?", ionvalue.String("b"))
	if got := rowsText(res.Rows); got != "2" {
		t.Fatalf("rows = %s", got)
	}
	if scans := tx.callsWith("Scan"); len(scans) != 0 || len(res.FullScans) != 0 {
		t.Fatalf("indexed equality scanned: %v %v", scans, res.FullScans)
	}
	if got := tx.callsWith("Lookup"); !reflect.DeepEqual(got, []string{`Lookup T.Name "b"`}) {
		t.Fatalf("lookups = %v", got)
	}
	if res.DocumentsRead != 1 {
		t.Fatalf("DocumentsRead = %d, want 1", res.DocumentsRead)
	}

	// Qualified, reversed, IN list, and with other conjuncts.
	for _, q := range []string{
		"SELECT VALUE t.v FROM T AS t WHERE t.Name = 'b'",
		"SELECT VALUE t.v FROM T AS t WHERE 'b' = t.Name AND t.v > 0",
		"SELECT VALUE t.v FROM T AS t WHERE t['Name'] = 'b'",
		"SELECT VALUE t.v FROM T AS t WHERE t.Name IN ('b', 'zz')",
		"SELECT VALUE t.v FROM T AS t WHERE t.Name IN (?)",
		"DELETE FROM T AS t WHERE t.Name = 'zz'",
		"UPDATE T AS t SET t.w = 1 WHERE t.Name = 'zz'",
	} {
		tx.calls = nil
		var params []*ionvalue.Value
		if strings.Contains(q, "?") {
			params = []*ionvalue.Value{testenv.Ion(t, `["b","zz"]`)}
		}
		res := exec(t, tx, q, params...)
		if len(tx.callsWith("Scan")) != 0 || len(tx.callsWith("Lookup")) == 0 {
			t.Errorf("%s: calls %v", q, tx.calls)
		}
		if strings.HasPrefix(q, "SELECT") && rowsText(res.Rows) != "2" {
			t.Errorf("%s: rows %s", q, rowsText(res.Rows))
		}
	}

	// Not index-assisted: ranges, OR, NOT IN, unindexed fields.
	for _, q := range []string{
		"SELECT * FROM T WHERE Name > 'a'",
		"SELECT * FROM T WHERE Name = 'a' OR v = 2",
		"SELECT * FROM T WHERE Name NOT IN ('a')",
		"SELECT * FROM T WHERE v = 2",
		"SELECT * FROM T",
	} {
		tx.calls = nil
		res := exec(t, tx, q)
		if len(tx.callsWith("Scan")) != 1 || len(res.FullScans) != 1 {
			t.Errorf("%s: calls %v, FullScans %v", q, tx.calls, res.FullScans)
		}
	}

	// A read-only full scan reports it scanned and counts documents.
	tx.calls = nil
	res = exec(t, tx, "SELECT VALUE Name FROM T")
	tid, _ := tx.Table("T")
	if !reflect.DeepEqual(res.FullScans, []string{tid.ID}) || res.DocumentsRead != 3 || res.DocumentsWritten != 0 {
		t.Fatalf("scan result: FullScans %v read %d written %d", res.FullScans, res.DocumentsRead, res.DocumentsWritten)
	}

	// An index still BUILDING is not used.
	tx.indexStatus = IndexBuilding
	exec(t, tx, "CREATE INDEX ON T (v)")
	tx.calls = nil
	exec(t, tx, "SELECT * FROM T WHERE v = 2")
	if len(tx.callsWith("Lookup")) != 0 || len(tx.callsWith("Scan")) != 1 {
		t.Fatalf("building index used: %v", tx.calls)
	}

	// BY id uses Get.
	ids := docIDsOf(t, tx, "T")
	tx.calls = nil
	res = exec(t, tx, "SELECT t.Name FROM T AS t BY tid WHERE tid = ?", ionvalue.String(ids[2]))
	if got := rowsText(res.Rows); got != `{Name:"c"}` || len(tx.callsWith("Get")) != 1 || len(tx.callsWith("Scan")) != 0 {
		t.Fatalf("BY lookup: rows %s calls %v", got, tx.calls)
	}
	tx.calls = nil
	res = exec(t, tx, "SELECT VALUE tid FROM T AS t BY tid WHERE tid IN (?, ?, 'nope')", ionvalue.String(ids[0]), ionvalue.String(ids[1]))
	if len(res.Rows) != 2 || len(tx.callsWith("Get")) != 3 || len(tx.callsWith("Scan")) != 0 {
		t.Fatalf("BY IN: rows %s calls %v", rowsText(res.Rows), tx.calls)
	}
}

// docIDsOf lists a table's document ids with a scan.
func docIDsOf(t *testing.T, tx *memTx, table string) []string {
	t.Helper()
	res := exec(t, tx, "SELECT VALUE id FROM "+table+" AS x BY id")
	var out []string
	for _, r := range res.Rows {
		out = append(out, r.Text)
	}
	return out
}

func TestJoinUsesInnerIndex(t *testing.T) {
	tx := newMemTx()
	seed(t, tx, "A", `{k:1,n:"a1"}`, `{k:2,n:"a2"}`, `{k:3,n:"a3"}`)
	seed(t, tx, "B", `{k:1,m:"b1"}`, `{k:3,m:"b3"}`, `{k:3,m:"b3bis"}`)
	exec(t, tx, "CREATE INDEX ON B (k)")
	tx.calls = nil
	res := exec(t, tx, "SELECT a.n, b.m FROM A AS a, B AS b WHERE a.k = b.k")
	want := "{n:\"a1\",m:\"b1\"}\n{n:\"a3\",m:\"b3\"}\n{n:\"a3\",m:\"b3bis\"}"
	if got := rowsText(res.Rows); got != want {
		t.Fatalf("join rows:\n%s", got)
	}
	if got := tx.callsWith("Scan"); !reflect.DeepEqual(got, []string{"Scan A"}) {
		t.Fatalf("scans = %v", got)
	}
	if got := tx.callsWith("Lookup"); len(got) != 3 {
		t.Fatalf("lookups = %v", got)
	}
	// JOIN ... ON form.
	tx.calls = nil
	res = exec(t, tx, "SELECT a.n, b.m FROM A AS a JOIN B AS b ON b.k = a.k WHERE a.n <> 'a3'")
	if got := rowsText(res.Rows); got != `{n:"a1",m:"b1"}` || len(tx.callsWith("Lookup")) != 2 {
		t.Fatalf("JOIN ON: rows %s calls %v", got, tx.calls)
	}
}

func TestReadIOsSelfJoin(t *testing.T) {
	// The driver's "Execution metrics" test: a 6-way self-join over three
	// documents reads 3+9+27+81+243+729 = 1092 documents.
	tx := newMemTx()
	seed(t, tx, "T", `{Name:"x"}`, `{Name:"x"}`, `{Name:"x"}`)
	res := exec(t, tx, "SELECT * FROM T as a, T as b, T as c, T as d, T as e, T as f")
	if len(res.Rows) != 729 || res.DocumentsRead != 1092 {
		t.Fatalf("rows %d, DocumentsRead %d", len(res.Rows), res.DocumentsRead)
	}
	if got := rowsText(res.Rows[:1]); got != `{Name:"x",Name:"x",Name:"x",Name:"x",Name:"x",Name:"x"}` {
		t.Fatalf("row = %s", got)
	}
}

// Execute is ExecuteContext without a context or limits, for tests.
func Execute(tx Tx, stmt *Statement, params []*ionvalue.Value) (*Result, error) {
	return ExecuteContext(context.Background(), tx, stmt, params, Limits{})
}
