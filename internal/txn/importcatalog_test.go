package txn

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/journal"
)

// replayBlock is one block for TestCatalogueReplay: its statements and
// the documents it wrote (as "tableId/tableName@stmt").
type replayBlock struct {
	stmts []string
	docs  []string
}

// TestCatalogueReplay replays hand-built transactionInfo (the cases the
// round trip in cmd/strand does not reach) and checks the catalogue: ids
// revealed by later documents and by UNDROP TABLE, a table seen only
// through its documents, literal aws_tags, entry versions counted per
// block, a DROP INDEX of an unknown id on a table with one index (dropped)
// and with two (kept, with a note), and a DROP of an unknown table (noted).
func TestCatalogueReplay(t *testing.T) {
	const (
		cars = "CarsIdCarsIdCarsIdCars"
		back = "BackIdBackIdBackIdBack"
		solo = "SoloIdSoloIdSoloIdSolo"
	)
	blocks := []replayBlock{
		{stmts: []string{"CREATE TABLE Cars WITH (aws_tags = `{team: \"fleet\"}`)", "CREATE INDEX ON Cars (vin)"}},
		{stmts: []string{"CREATE TABLE Back", "CREATE TABLE Two", "CREATE INDEX ON Two (a)", "CREATE INDEX ON Two (b)"}},
		{stmts: []string{"INSERT INTO Cars VALUE {'vin': 'V1'}"}, docs: []string{cars + "/Cars@0"}},
		{stmts: []string{"DROP TABLE Back", "DROP INDEX \"IdxIdIdxIdIdxIdIdxIdI\" ON Cars WITH (purge = true)"}},
		{stmts: []string{"UNDROP TABLE \"" + back + "\"", "DROP INDEX \"IdxIdIdxIdIdxIdIdxIdI\" ON Two WITH (purge = true)", "DROP TABLE Nope"}},
		{stmts: []string{"INSERT INTO Solo VALUE {}"}, docs: []string{solo + "/Solo@0"}},
	}
	c := newCatalogueReplay("StrandStrandStrandStra")
	for i, rb := range blocks {
		b := &journal.Block{Address: journal.BlockAddress{StrandID: c.strand, SequenceNo: uint64(i)}}
		for _, s := range rb.stmts {
			b.TransactionInfo.Statements = append(b.TransactionInfo.Statements, journal.StatementInfo{Statement: s})
		}
		for j, d := range rb.docs {
			id, rest, _ := strings.Cut(d, "/")
			name, at, _ := strings.Cut(rest, "@")
			var stmt int
			fmt.Sscan(at, &stmt)
			b.TransactionInfo.Documents = append(b.TransactionInfo.Documents, journal.DocumentInfo{DocumentID: fmt.Sprintf("doc%d", j), TableID: id, TableName: name, Statements: []int{stmt}})
		}
		c.block(b)
	}
	var got []string
	for _, id := range c.order {
		tm := c.tables[id]
		var ix []string
		for _, x := range tm.Indexes {
			ix = append(ix, x.Field)
		}
		sort.Strings(ix)
		shown := id
		if !c.known[id] {
			shown = "derived"
		}
		got = append(got, fmt.Sprintf("%s %s active=%v v%d %v %v", tm.Name, shown, tm.Active, tm.Version, ix, c.tags[tm]))
	}
	want := []string{
		"Cars " + cars + " active=true v1 [] map[team:fleet]",
		"Back " + back + " active=true v2 [] map[]",
		"Two derived active=true v0 [a b] map[]",
		"Solo " + solo + " active=true v0 [] map[]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("replayed catalogue:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	notes := strings.Join(c.Notes, "\n")
	if len(c.Notes) != 2 || !strings.Contains(notes, "block 4: \"DROP INDEX") || !strings.Contains(notes, "has 2 indexes") || !strings.Contains(notes, "no active table Nope") {
		t.Fatalf("notes:\n%s", notes)
	}
}
