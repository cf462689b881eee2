package partiql

import (
	"errors"
	"strings"
	"testing"
)

func TestParseDump(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		// DDL
		{"CREATE TABLE Person", "(create-table Person)"},
		{`create table "VehicleRegistration"`, `(create-table "VehicleRegistration")`},
		{"CREATE TABLE t WITH (aws_tags = `{'a': 'b'}`)", `(create-table t (tags {a:b}))`},
		{"DROP TABLE Person", "(drop-table Person)"},
		{`UNDROP TABLE "5PLf9SXwndd63lPaSIa0O6"`, `(undrop-table "5PLf9SXwndd63lPaSIa0O6")`},
		{"CREATE INDEX ON Person (GovId)", "(create-index Person GovId)"},
		{`DROP INDEX "idx1" ON Person WITH (purge = true)`, `(drop-index "idx1" Person purge)`},
		// INSERT
		{"INSERT INTO Person VALUE {'FirstName': 'Raul', 'Age': 42}", "(insert Person (value (struct ('FirstName' 'Raul') ('Age' 42))))"},
		{"INSERT INTO t << {'a': 1}, ?, ? >>", "(insert t (bag (struct ('a' 1)) ?0 ?1))"},
		{"INSERT INTO t ?", "(insert t ?0)"},
		{"INSERT INTO t VALUE ?;", "(insert t (value ?0))"},
		// SELECT
		{"SELECT * FROM Person", "(select * (from (Person)))"},
		{"select * from Person p where p.GovId = ?", "(select * (from (Person as p)) (where (= (path p .GovId) ?0)))"},
		{"SELECT VALUE Name FROM T WHERE Name = ?", "(select (value Name) (from (T)) (where (= Name ?0)))"},
		{"SELECT COUNT(*) FROM T", "(select (items (item (call COUNT *))) (from (T)))"},
		{"SELECT r.VIN, p.FirstName AS fn FROM VehicleRegistration AS r, Person AS p BY pid WHERE r.Owners.PrimaryOwner.PersonId = pid",
			"(select (items (item (path r .VIN)) (item (path p .FirstName) as fn)) (from (VehicleRegistration as r) (Person as p by pid)) (where (= (path r .Owners .PrimaryOwner .PersonId) pid)))"},
		{"SELECT p.* FROM Person AS p BY pid WHERE pid = ?", "(select (items (item p .*)) (from (Person as p by pid)) (where (= pid ?0)))"},
		{"SELECT o FROM Vehicle AS v, v.Owners.SecondaryOwners AS o AT i",
			"(select (items (item o)) (from (Vehicle as v) ((path v .Owners .SecondaryOwners) as o at i)))"},
		{"SELECT VALUE indexes[0] FROM information_schema.user_tables WHERE status = 'ACTIVE' AND name = 'T'",
			"(select (value (path indexes [0])) (from ((path information_schema .user_tables))) (where (and (= status 'ACTIVE') (= name 'T'))))"},
		{"SELECT h.data, h.metadata.version FROM history(Person, `2019-06-05T00:00:00Z`) AS h WHERE h.metadata.id = ?",
			"(select (items (item (path h .data)) (item (path h .metadata .version))) (from ((call HISTORY Person 2019-06-05T00:00:00Z) as h)) (where (= (path h .metadata .id) ?0)))"},
		{"SELECT * FROM _ql_committed_Person AS c", "(select * (from (_ql_committed_Person as c)))"},
		{"SELECT a['x'][1].\"b c\" FROM t AS a", `(select (items (item (path a ['x'] [1] .b c))) (from (t as a)))`},
		{"SELECT * FROM a INNER JOIN b ON a.x = b.y", "(select * (from (a) (join b (on (= (path a .x) (path b .y))))))"},
		{"SELECT * FROM t WHERE x IN (1, 2.5, 1e0) AND y NOT IN ? AND z IS NOT NULL AND w IS MISSING",
			"(select * (from (t)) (where (and (and (and (in x (list 1 2.5 1e0)) (not-in y ?0)) (is-not-null z)) (is-missing w))))"},
		{"SELECT * FROM t WHERE a <> 1 OR b != 2 AND NOT c < 3",
			"(select * (from (t)) (where (or (<> a 1) (and (<> b 2) (not (< c 3))))))"},
		{"SELECT * FROM t WHERE a BETWEEN 1 AND 2 AND b LIKE 'x%' ESCAPE '!'",
			"(select * (from (t)) (where (and (between a 1 2) (like b 'x%' '!'))))"},
		{"SELECT VALUE -1 + 2 * 3 - -4 FROM t", "(select (value (- (+ -1 (* 2 3)) -4)) (from (t)))"},
		{"SELECT VALUE 'a' || 'b' FROM t", "(select (value (|| 'a' 'b')) (from (t)))"},
		{"SELECT VALUE [1, <<true, null>>, {'k': missing}, `{{aGVsbG8=}}`] FROM t",
			"(select (value (list 1 (bag true null) (struct ('k' missing)) {{aGVsbG8=}})) (from (t)))"},
		{"SELECT VALUE 'it''s' FROM t", "(select (value 'it''s') (from (t)))"},
		{"SELECT x FROM t AS a WHERE a.y IN (SELECT VALUE b.y FROM u AS b)",
			"(select (items (item x)) (from (t as a)) (where (in (path a .y) (subquery (select (value (path b .y)) (from (u as b)))))))"},
		{"SELECT a.value FROM t AS a", "(select (items (item (path a .value))) (from (t as a)))"},
		{"SELECT * FROM t -- comment\n WHERE /* block */ a = 1", "(select * (from (t)) (where (= a 1)))"},
		// DML
		{"UPDATE VehicleRegistration AS r SET r.Owners.PrimaryOwner.PersonId = ? WHERE r.VIN = ?",
			"(update (VehicleRegistration as r) (set (path r .Owners .PrimaryOwner .PersonId) ?0) (where (= (path r .VIN) ?1)))"},
		{"UPDATE T SET Name = ?", "(update (T) (set Name ?0))"},
		{"UPDATE t AS a BY id SET a.x = 1, a.y = 2 WHERE id = 'abc'",
			"(update (t as a by id) (set (path a .x) 1) (set (path a .y) 2) (where (= id 'abc')))"},
		{"UPDATE t REMOVE t.x WHERE t.y = 1", "(update (t) (remove (path t .x)) (where (= (path t .y) 1)))"},
		{"DELETE FROM Person AS p WHERE p.GovId = ?", "(delete (Person as p) (delete) (where (= (path p .GovId) ?0)))"},
		{"DELETE FROM t", "(delete (t) (delete))"},
		{"FROM VehicleRegistration AS r WHERE r.VIN = '1N4AL11D75C109151' INSERT INTO r.Owners.SecondaryOwners VALUE {'PersonId': ?}",
			"(from (VehicleRegistration as r) (insert-into (path r .Owners .SecondaryOwners) (struct ('PersonId' ?0))) (where (= (path r .VIN) '1N4AL11D75C109151')))"},
		{"FROM t AS a WHERE a.x = 1 INSERT INTO a.l VALUE 5 AT 0", "(from (t as a) (insert-into (path a .l) 5 0) (where (= (path a .x) 1)))"},
		{"FROM t AS a BY id WHERE id = ? SET a.x = 1 REMOVE a.y", "(from (t as a by id) (set (path a .x) 1) (remove (path a .y)) (where (= id ?0)))"},
		{"FROM t AS a REMOVE a", "(from (t as a) (remove a))"},
	}
	for _, tc := range tests {
		st, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := Dump(st); got != tc.want {
			t.Errorf("Parse(%q)\n got  %s\n want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseParamsAndKind(t *testing.T) {
	st, err := Parse("UPDATE t SET a = ?, b = ? WHERE c IN (?, ?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	if st.NumParams != 5 {
		t.Errorf("NumParams = %d, want 5", st.NumParams)
	}
	if st.ReadOnly() || st.Kind() != "UPDATE" {
		t.Errorf("ReadOnly=%v Kind=%s", st.ReadOnly(), st.Kind())
	}
	st, _ = Parse("SELECT * FROM t")
	if !st.ReadOnly() || st.Kind() != "SELECT" {
		t.Errorf("ReadOnly=%v Kind=%s", st.ReadOnly(), st.Kind())
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in, code, msg string
	}{
		{"SELECT * FORM t", CodeSyntax, "Syntax Error: at line 1, column 10: expected FROM after the SELECT list, found 'FORM'"},
		{"SELECT * FROM", CodeSyntax, "Syntax Error: at line 1, column 14: expected an expression, found end of statement"},
		{"", CodeSyntax, "Syntax Error: at line 1, column 1: empty statement"},
		{"SELEC * FROM t", CodeSyntax, "Syntax Error: at line 1, column 1: expected a statement (SELECT, INSERT, UPDATE, DELETE, FROM, CREATE, DROP or UNDROP), found 'SELEC'"},
		{"SELECT * FROM t WHERE a = 'x", CodeSyntax, "Syntax Error: at line 1, column 27: unterminated string"},
		{"SELECT * FROM t\nWHERE a = #", CodeSyntax, "Syntax Error: at line 2, column 11: unexpected character '#'"},
		{"INSERT INTO t VALUES (1)", CodeSyntax, "Syntax Error: at line 1, column 15: expected VALUE {...}, << ... >> or ? after the table name, found VALUES (QLDB PartiQL inserts documents, not rows)"},
		{"CREATE TABLE select", CodeSyntax, "Syntax Error: at line 1, column 14: expected a table name after CREATE TABLE, found reserved word SELECT (write it in double quotes to use it as a name)"},
		{"SELECT * FROM t ORDER BY a", CodeUnsupported, "Unsupported: at line 1, column 17: ORDER is not supported by QLDB PartiQL"},
		{"SELECT * FROM t WHERE a = `{unclosed`", CodeSyntax, "Syntax Error: at line 1, column 27: invalid Ion literal"},
		{"SELECT * FROM t extra garbage", CodeSyntax, "Syntax Error: at line 1, column 23: unexpected 'garbage' after the end of the statement"},
		{"SELECT 12abc FROM t", CodeSyntax, `Syntax Error: at line 1, column 8: invalid number "12a"`},
		{"UPDATE t WHERE a = 1", CodeSyntax, "Syntax Error: at line 1, column 10: expected SET or REMOVE in UPDATE, found keyword WHERE"},
		{"EXEC redact_revision 'x'", CodeUnsupported, "Unsupported: at line 1, column 1: EXEC"},
		{"SELECT * FROM t AS", CodeSyntax, "Syntax Error: at line 1, column 19: expected an alias after AS, found end of statement"},
		{"SELECT * FROM t WHERE " + strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300), CodeSyntax, "expression nests too deeply"},
		{"SELECT * FROM t /* never closed", CodeSyntax, "Syntax Error: at line 1, column 17: unterminated /* comment"},
		{"CREATE INDEX ON t (a.b)", CodeUnsupported, "an index covers exactly one top-level field"},
	}
	for _, tc := range tests {
		_, err := Parse(tc.in)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) = %v, want *Error", tc.in, err)
			continue
		}
		if pe.Code != tc.code || !strings.Contains(pe.Message, tc.msg) {
			t.Errorf("Parse(%q)\n got  %s %q\n want %s %q", tc.in, pe.Code, pe.Message, tc.code, tc.msg)
		}
	}
}

func TestLexerPositions(t *testing.T) {
	toks, err := lex("SELECT\n  a.\"b\" , `1`\n?")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind      tokKind
		text      string
		line, col int
	}{
		{tokKeyword, "SELECT", 1, 1}, {tokIdent, "a", 2, 3}, {tokPunct, ".", 2, 4}, {tokQuoted, "b", 2, 5},
		{tokPunct, ",", 2, 9}, {tokIon, "1", 2, 11}, {tokParam, "?", 3, 1}, {tokEOF, "", 3, 2},
	}
	if len(toks) != len(want) {
		t.Fatalf("got %d tokens, want %d", len(toks), len(want))
	}
	for i, w := range want {
		g := toks[i]
		if g.kind != w.kind || g.text != w.text || g.pos.Line != w.line || g.pos.Col != w.col {
			t.Errorf("token %d = %+v, want %+v", i, g, w)
		}
	}
}
