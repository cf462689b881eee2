package partiql

import (
	"fmt"
	"strings"
	"testing"
)

func TestAccesses(t *testing.T) {
	for _, c := range []struct{ stmt, want string }{
		{"SELECT * FROM Cars", "PartiQLSelect Cars"},
		{"SELECT * FROM Cars AS c, Owners AS o WHERE c.id = o.car", "PartiQLSelect Cars; PartiQLSelect Owners"},
		{"SELECT * FROM Cars AS c JOIN Owners AS o ON c.id = o.car", "PartiQLSelect Cars; PartiQLSelect Owners"},
		{"SELECT * FROM _ql_committed_Cars", "PartiQLSelect Cars"},
		{"SELECT * FROM history(Cars, `2020T`)", "PartiQLHistoryFunction Cars"},
		{"SELECT * FROM history('abc')", "PartiQLHistoryFunction id:abc"},
		{"SELECT * FROM information_schema.user_tables", "PartiQLSelect catalog"},
		{"SELECT * FROM Cars AS c WHERE c.x IN (SELECT VALUE y FROM Other AS y)", "PartiQLSelect Cars; PartiQLSelect Other"},
		{"SELECT (SELECT VALUE 1 FROM A AS a) AS s FROM B AS b", "PartiQLSelect B; PartiQLSelect A"},
		{"INSERT INTO Cars VALUE {'a': 1}", "PartiQLInsert Cars"},
		{"INSERT INTO Cars << {'a': 1} >>", "PartiQLInsert Cars"},
		{"UPDATE Cars SET a = 1 WHERE b IN (SELECT VALUE x FROM Other AS x)", "PartiQLUpdate Cars; PartiQLSelect Other"},
		{"DELETE FROM Cars AS c WHERE c.a = 1", "PartiQLDelete Cars"},
		{"FROM Cars AS c WHERE c.a = 1 SET c.b = 2", "PartiQLUpdate Cars"},
		{"FROM Cars AS c WHERE c.a = 1 REMOVE c", "PartiQLDelete Cars"},
		{"FROM Cars AS c REMOVE c.b", "PartiQLUpdate Cars"},
		{"CREATE TABLE Cars", "PartiQLCreateTable new"},
		{"DROP TABLE Cars", "PartiQLDropTable Cars"},
		{`UNDROP TABLE "abc"`, "PartiQLUndropTable id:abc"},
		{"CREATE INDEX ON Cars (vin)", "PartiQLCreateIndex Cars"},
		{`DROP INDEX "ix" ON Cars WITH (purge = true)`, "PartiQLDropIndex Cars purge"},
		{"EXEC redact_revision ?, 'tbl', 'doc'", ""}, // qldb:PartiQLRedact is asked when it runs
		{"EXEC redact_revision ?, (SELECT VALUE t.id FROM T AS t), 'doc'", "PartiQLSelect T"},
	} {
		st, err := Parse(c.stmt)
		if err != nil {
			t.Errorf("%s: %v", c.stmt, err)
			continue
		}
		accs, ok := Accesses(st)
		if !ok {
			t.Errorf("%s: not classified", c.stmt)
			continue
		}
		var parts []string
		for _, a := range accs {
			what := a.Table
			switch {
			case a.Catalog:
				what = "catalog"
			case a.NewTable:
				what = "new"
			case a.TableID != "":
				what = "id:" + a.TableID
			}
			if a.Purge {
				what += " purge"
			}
			if a.Pos.Line == 0 {
				t.Errorf("%s: access %+v has no position", c.stmt, a)
			}
			parts = append(parts, fmt.Sprintf("%s %s", strings.TrimPrefix(a.Action, "qldb:"), what))
		}
		if got := strings.Join(parts, "; "); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.stmt, got, c.want)
		}
	}
}

func TestAccessesCreateTableTags(t *testing.T) {
	st, err := Parse("CREATE TABLE Cars WITH (aws_tags = `{'env': 'dev', 'team': 'a'}`)")
	if err != nil {
		t.Fatal(err)
	}
	accs, ok := Accesses(st)
	if !ok || len(accs) != 1 || accs[0].Tags["env"] != "dev" || accs[0].Tags["team"] != "a" || len(accs[0].Tags) != 2 {
		t.Fatalf("Accesses = %+v, %v", accs, ok)
	}
	st, _ = Parse("CREATE TABLE Cars")
	if accs, _ := Accesses(st); accs[0].Tags != nil {
		t.Fatalf("no WITH clause: tags %v", accs[0].Tags)
	}
}
