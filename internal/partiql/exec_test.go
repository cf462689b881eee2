package partiql

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/ionvalue"
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

func TestInsertForms(t *testing.T) {
	tx := newMemTx()
	exec(t, tx, "CREATE TABLE T")
	cases := []struct {
		stmt   string
		params []*ionvalue.Value
		n      int
	}{
		{"INSERT INTO T VALUE {'Name': 'a', 'n': 90.25}", nil, 1},
		{"INSERT INTO T << {'Name': 'b'}, {'Name': 'c'} >>", nil, 2},
		{"INSERT INTO T <<?, ?>>", []*ionvalue.Value{iv(t, `{Name:"d"}`), iv(t, `{Name:"e"}`)}, 2},
		{"INSERT INTO T ?", []*ionvalue.Value{iv(t, `{Name:"f"}`)}, 1},
		{"INSERT INTO T ?", []*ionvalue.Value{iv(t, `[{Name:"g"},{Name:"h"},{Name:"i"}]`)}, 3},
		{"INSERT INTO T VALUE ?", []*ionvalue.Value{iv(t, `{Name:"j"}`)}, 1},
		{"INSERT INTO T `{Name: \"k\"}`", nil, 1},
	}
	total := 0
	for _, c := range cases {
		res := exec(t, tx, c.stmt, c.params...)
		if len(res.Rows) != c.n || res.DocumentsWritten != c.n {
			t.Fatalf("%s: %d rows, %d written, want %d", c.stmt, len(res.Rows), res.DocumentsWritten, c.n)
		}
		for _, id := range docIDs(res) {
			if id == "" {
				t.Fatalf("%s: row without documentId: %s", c.stmt, rowsText(res.Rows))
			}
		}
		total += c.n
	}
	res := exec(t, tx, "SELECT COUNT(*) FROM T")
	if got := rowsText(res.Rows); got != "{_1:"+itoa(total)+"}" {
		t.Fatalf("count = %s, want %d", got, total)
	}
	res = exec(t, tx, "SELECT VALUE n FROM T WHERE Name = 'a'")
	if got := rowsText(res.Rows); got != "90.25" {
		t.Fatalf("decimal literal stored as %s", got)
	}

	for _, bad := range []struct{ stmt, msg string }{
		{"INSERT INTO T VALUE 5", "takes one document, a struct"},
		{"INSERT INTO T << {'a': 1}, 2 >>", "document 2 is int"},
		{"INSERT INTO T 'x'", "needs a struct or a collection of structs"},
	} {
		_, err := tryExec(tx, bad.stmt)
		wantErr(t, err, "400", bad.msg)
	}
	_, err := tryExec(tx, "INSERT INTO T VALUE ?", iv(t, "[{a:1}]"))
	wantErr(t, err, "400", "takes one document")
	_, err = tryExec(tx, "INSERT INTO T VALUE ?")
	wantErr(t, err, "400", "the statement has 1 parameter(s) (?) but 0 value(s) were given")
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
		res := exec(t, tx, "INSERT INTO "+table+" ?", iv(t, d))
		ids = append(ids, docIDs(res)...)
	}
	tx.calls = nil
	return ids
}

func TestSelectProjection(t *testing.T) {
	tx := newMemTx()
	seed(t, tx, "T", `{a:1,b:{c:"x"},l:[10,20],s:"s1"}`, `{a:2,l:[30],s:"s2"}`)
	cases := []struct{ q, want string }{
		{"SELECT * FROM T WHERE a = 1", `{a:1,b:{c:"x"},l:[10,20],s:"s1"}`},
		{"SELECT VALUE a FROM T", "1\n2"},
		{"SELECT VALUE b.c FROM T", `"x"`}, // MISSING values are left out
		{"SELECT a, b.c, l[1], 'lit', a + 1, t.s AS name FROM T AS t WHERE a = 1", `{a:1,c:"x",_3:20,_4:"lit",_5:2,name:"s1"}`},
		{"SELECT t.b['c'] FROM T AS t WHERE t.a = 1", `{c:"x"}`},
		{"SELECT t.b.missing FROM T AS t WHERE t.a = 2", `{}`},
		{"SELECT COUNT(*) FROM T", `{_1:2}`},
		{"SELECT COUNT(*) AS n, SUM(a) AS s, MIN(s) AS lo, MAX(a) AS hi, AVG(a) AS av FROM T", `{n:2,s:3,lo:"s1",hi:2,av:1.5}`},
		{"SELECT COUNT(b) FROM T", `{_1:1}`},
		{"SELECT COUNT(*) FROM T WHERE a > 5", `{_1:0}`},
		{"SELECT COUNT(*) FROM T, T", `{_1:4}`}, // a self-join, not an unnesting of T
		{"SELECT SUM(a) FROM T WHERE a > 5", `{_1:null}`},
		{"SELECT x.*, y.s FROM T AS x, T AS y WHERE x.a = 2 AND y.a = 1", `{a:2,l:[30],s:"s2",s:"s1"}`},
		{"SELECT VALUE {'k': t.a, 'm': t.nope} FROM T AS t WHERE t.a = 2", `{k:2}`},
		{"SELECT VALUE [t.a, t.nope] FROM T AS t WHERE t.a = 2", `[2,null]`},
		{"SELECT VALUE TXID() FROM T WHERE a = 1", `"txid0000000000000000001"`},
		{"SELECT VALUE UPPER(s) || LOWER('AB') FROM T WHERE a = 1", `"S1ab"`},
		{"SELECT VALUE SIZE(l) FROM T", "2\n1"},
		{"SELECT VALUE COALESCE(t.nope, null, t.a) FROM T AS t WHERE t.a = 1", "1"},
		{"SELECT o, i FROM T AS t, t.l AS o AT i WHERE t.a = 1", "{o:10,i:0}\n{o:20,i:1}"},
		{"SELECT VALUE x FROM [1, 2] AS x", "1\n2"},
		{"SELECT VALUE v FROM (SELECT VALUE a FROM T) AS v WHERE v > 1", "2"},
		{"SELECT VALUE t.a FROM T AS t WHERE t.a IN (SELECT VALUE u.a FROM T AS u WHERE u.s = 's2')", "2"},
		{"SELECT VALUE 7 / 2 FROM T WHERE a = 1", "3"},
		{"SELECT VALUE 7.0 / 2 FROM T WHERE a = 1", "3.5"},
		{"SELECT VALUE 1e0 + 1 FROM T WHERE a = 1", "2e0"},
		{"SELECT VALUE 7 % 3 FROM T WHERE a = 1", "1"},
	}
	for _, c := range cases {
		res := exec(t, tx, c.q)
		if got := rowsText(res.Rows); got != c.want {
			t.Errorf("%s\n got  %s\n want %s", c.q, got, c.want)
		}
	}
	_, err := tryExec(tx, "SELECT a, COUNT(*) FROM T")
	wantErr(t, err, "432", "'a' must be inside an aggregate function")
	_, err = tryExec(tx, "SELECT * FROM T WHERE COUNT(*) > 1")
	wantErr(t, err, "432", "aggregate function COUNT is only allowed in the SELECT list")
	_, err = tryExec(tx, "SELECT NOSUCH(a) FROM T")
	wantErr(t, err, "432", "No such function: NOSUCH")
	_, err = tryExec(tx, "SELECT VALUE a / 0 FROM T")
	wantErr(t, err, "400", "division by zero")
	_, err = tryExec(tx, "SELECT VALUE SIZE(12) FROM T")
	wantErr(t, err, "400", "SIZE expects a list, bag or struct")
	_, err = tryExec(tx, "SELECT * FROM T AS t, nope AS n")
	wantErr(t, err, "432", "column 23: No such variable named 'nope'")
}

func TestWhereSemantics(t *testing.T) {
	tx := newMemTx()
	seed(t, tx, "T",
		`{id:1, n:1, s:"abc", ts:2020-01-01T00:00:00Z, st:{x:1,y:[1,2]}}`,
		`{id:2, n:1.0, s:'abc', ts:2020-01-01T01:00:00+01:00}`,
		`{id:3, n:1e0, nul:null}`,
		`{id:4, n:2.5, s:"abd", ts:2021-06-01T00:00:00.123456789Z, st:{y:[1,2],x:1.0}}`,
		`{id:5}`,
	)
	cases := []struct{ where, want string }{
		{"n = 1", "1 2 3"},
		{"n = 1.00", "1 2 3"},
		{"n <> 1", "4"},
		{"n != 1", "4"},
		{"n > 1", "4"},
		{"n >= 1 AND n < 3", "1 2 3 4"},
		{"n BETWEEN 1 AND 2", "1 2 3"},
		{"n NOT BETWEEN 1 AND 2", "4"},
		{"s = 'abc'", "1 2"},
		{"s < 'abd'", "1 2"},
		{"s LIKE 'ab%'", "1 2 4"},
		{"s LIKE 'ab_' AND s NOT LIKE '%c'", "4"},
		{"ts = `2020-01-01T00:00Z`", "1 2"},
		{"ts > `2020-06-01T`", "4"},
		{"st = {'x': 1, 'y': [1, 2]}", "1 4"},
		{"st.y = [1, 2]", "1 4"},
		{"st.y = [2, 1]", ""},
		{"nul IS NULL", "1 2 3 4 5"}, // MISSING IS NULL is true in PartiQL
		{"nul IS MISSING", "1 2 4 5"},
		{"s IS NULL", "3 5"},
		{"s IS NOT NULL", "1 2 4"},
		{"s IS NOT MISSING", "1 2 4"},
		{"nul = null", ""},
		{"nope = 1", ""},
		{"NOT (nope = 1)", ""},
		{"nope <> 1", ""},
		{"id IN (1, 3, 9)", "1 3"},
		{"id NOT IN (1, 3)", "2 4 5"},
		{"n = 1 OR id = 5", "1 2 3 5"},
		{"(n = 1 OR id = 5) AND NOT id = 2", "1 3 5"},
		{"s = 1", ""},
		{"s < 1", ""},
		{"id * 2 = 8", "4"},
		{"id - 1 = -0", "1"},
		{"`abc` = s", "1 2"},
		{"true", "1 2 3 4 5"},
		{"null", ""},
	}
	for _, c := range cases {
		res := exec(t, tx, "SELECT VALUE id FROM T WHERE "+c.where)
		got := strings.ReplaceAll(rowsText(res.Rows), "\n", " ")
		if got != c.want {
			t.Errorf("WHERE %s: got [%s] want [%s]", c.where, got, c.want)
		}
	}
	// Parameters: IN ? with a list, IN (?) with a list, nanosecond timestamps.
	res := exec(t, tx, "SELECT VALUE id FROM T WHERE id IN ?", iv(t, "[2,4]"))
	if got := rowsText(res.Rows); got != "2\n4" {
		t.Errorf("IN ? = %s", got)
	}
	res = exec(t, tx, "SELECT VALUE id FROM T WHERE id IN (?)", iv(t, "[1,5]"))
	if got := rowsText(res.Rows); got != "1\n5" {
		t.Errorf("IN (?) = %s", got)
	}
	res = exec(t, tx, "SELECT VALUE id FROM T WHERE ts = ?", iv(t, "2021-06-01T00:00:00.123456789Z"))
	if got := rowsText(res.Rows); got != "4" {
		t.Errorf("ts = ? (ns) = %s", got)
	}
	res = exec(t, tx, "SELECT VALUE id FROM T WHERE ts = ?", iv(t, "2021-06-01T00:00:00.123456788Z"))
	if len(res.Rows) != 0 {
		t.Errorf("ts = ? matched a different nanosecond: %s", rowsText(res.Rows))
	}
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
			params = []*ionvalue.Value{iv(t, `["b","zz"]`)}
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
