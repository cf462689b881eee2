package partiql

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/testenv"
)

func TestDMLAccessPath(t *testing.T) {
	tx := newMemTx()
	ids := seed(t, tx, "T", `{Name:"a",s:"str",l:[1]}`, `{Name:"b"}`)

	// DML by document id reads with Get; by an indexed field with Lookup.
	tx.calls = nil
	res := exec(t, tx, "UPDATE T AS t BY id SET t.x = 1 WHERE id = ?", ionvalue.String(ids[1]))
	if !reflect.DeepEqual(docIDs(res), []string{ids[1]}) || len(tx.callsWith("Scan")) != 0 || len(tx.callsWith("Get")) != 1 {
		t.Fatalf("UPDATE BY id: rows %s calls %v", rowsText(res.Rows), tx.calls)
	}
	exec(t, tx, "CREATE INDEX ON T (Name)")
	tx.calls = nil
	res = exec(t, tx, "DELETE FROM T WHERE Name = ?", ionvalue.String("a"))
	if !reflect.DeepEqual(docIDs(res), []string{ids[0]}) || len(tx.callsWith("Scan")) != 0 || len(tx.callsWith("Lookup")) != 1 {
		t.Fatalf("DELETE by index: rows %s calls %v", rowsText(res.Rows), tx.calls)
	}
}

func TestCommittedViewAndHistory(t *testing.T) {
	tx := newMemTx()
	ids := seed(t, tx, "Person", `{GovId:"g1",Name:"n1"}`, `{GovId:"g2",Name:"n2"}`)
	tbl, _ := tx.Table("Person")
	// The first document has a committed revision; the second has none.
	committed := testenv.Ion(t, `{blockAddress:{strandId:"s",sequenceNo:4},hash:{{AAAA}},data:{GovId:"g1",Name:"n1"},metadata:{id:"`+ids[0]+`",version:0,txTime:2020-01-01T00:00:00.000Z,txId:"tx1"}}`)
	// A wrapper Tx adds the committed view to what memTx reads.
	wrapped := &committedTx{memTx: tx, committed: map[string]*ionvalue.Value{ids[0]: committed}}
	res := exec(t, wrapped, "SELECT c.metadata.id, c.data.Name FROM _ql_committed_Person AS c")
	rows := strings.Split(rowsText(res.Rows), "\n")
	want := []string{`{id:"` + ids[0] + `",Name:"n1"}`, `{id:"` + ids[1] + `",Name:"n2"}`}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("committed view = %v", rows)
	}
	res = exec(t, wrapped, "SELECT metadata.id FROM _ql_committed_Person AS p WHERE p.data.GovId = 'g1'")
	if got := rowsText(res.Rows); got != `{id:"`+ids[0]+`"}` {
		t.Fatalf("sample committed query = %s", got)
	}
	exec(t, tx, "CREATE INDEX ON Person (GovId)")
	tx.calls = nil
	res = exec(t, wrapped, "SELECT VALUE c.blockAddress.sequenceNo FROM _ql_committed_Person AS c WHERE c.data.GovId = ?", ionvalue.String("g1"))
	if got := rowsText(res.Rows); got != "4" || len(tx.callsWith("Lookup")) != 1 || len(tx.callsWith("Scan")) != 0 {
		t.Fatalf("committed lookup rows %s calls %v", got, tx.calls)
	}

	// History: by table name and by id, with times, and the metadata.id
	// filter pushed down.
	tx.history[tbl.ID] = []*ionvalue.Value{
		testenv.Ion(t, `{data:{Owner:"a"},metadata:{id:"d1",version:0}}`),
		testenv.Ion(t, `{data:{Owner:"b"},metadata:{id:"d1",version:1}}`),
		testenv.Ion(t, `{data:{Owner:"c"},metadata:{id:"d2",version:0}}`),
	}
	tx.calls = nil
	res = exec(t, tx, "SELECT h.data.Owner, h.metadata.version FROM history(Person, `2019-06-05T00:00:00Z`, `2030-01-01T00:00:00Z`) AS h WHERE h.metadata.id = ?", ionvalue.String("d1"))
	if got := rowsText(res.Rows); got != "{Owner:\"a\",version:0}\n{Owner:\"b\",version:1}" {
		t.Fatalf("history rows = %s", got)
	}
	if got := tx.callsWith("History"); !reflect.DeepEqual(got, []string{`History ` + tbl.ID + ` "d1"`}) {
		t.Fatalf("history calls = %v", got)
	}
	res = exec(t, tx, "SELECT VALUE h.metadata.id FROM history('"+tbl.ID+"') AS h")
	if got := rowsText(res.Rows); got != "\"d1\"\n\"d1\"\n\"d2\"" || res.DocumentsRead != 3 {
		t.Fatalf("history by id = %s (read %d)", got, res.DocumentsRead)
	}
	_, err := tryExec(tx, "SELECT * FROM history(Person, 'not a time') AS h")
	wantErr(t, err, "400", "must be timestamps")
	_, err = tryExec(tx, "SELECT * FROM history(Nobody) AS h")
	wantErr(t, err, "432", "No such variable named 'Nobody'")
}

// committedTx adds committed-view structs to documents read from memTx.
type committedTx struct {
	*memTx
	committed map[string]*ionvalue.Value
}

func (c *committedTx) add(fn func(Document) bool) func(Document) bool {
	return func(d Document) bool {
		d.Committed = c.committed[d.ID]
		return fn(d)
	}
}

func (c *committedTx) Scan(tableID string, fn func(Document) bool) error {
	return c.memTx.Scan(tableID, c.add(fn))
}

func (c *committedTx) Lookup(tableID, field string, key *ionvalue.Value, fn func(Document) bool) error {
	return c.memTx.Lookup(tableID, field, key, c.add(fn))
}

// failingTx fails every Scan with err.
type failingTx struct {
	*memTx
	err error
}

func (f *failingTx) Scan(string, func(Document) bool) error { return f.err }

func TestTxErrorsPassThrough(t *testing.T) {
	tx := newMemTx()
	seed(t, tx, "T", `{a:1}`)
	sentinel := errors.New("boom")
	_, err := tryExec(&failingTx{memTx: tx, err: sentinel}, "SELECT * FROM T")
	if !errors.Is(err, sentinel) || !strings.HasPrefix(err.Error(), "partiql: scan: ") {
		t.Fatalf("wrapped error = %v", err)
	}
	own := &Error{Code: "999", Message: "Transaction x has expired"}
	_, err = tryExec(&failingTx{memTx: tx, err: own}, "SELECT * FROM T")
	if err != own {
		t.Fatalf("*Error from Tx = %v, want it unchanged", err)
	}
}

func TestStatementReuseConcurrently(t *testing.T) {
	st, err := Parse("SELECT VALUE t.v FROM T AS t WHERE t.k = ? AND t.v IN (SELECT VALUE u.v FROM T AS u)")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		tx := newMemTx()
		seed(t, tx, "T", `{k:"a",v:1}`, `{k:"b",v:2}`)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				res, err := Execute(tx, st, []*ionvalue.Value{ionvalue.String([]string{"a", "b"}[g%2])})
				if err != nil {
					t.Error(err)
					return
				}
				if got, want := rowsText(res.Rows), itoa(g%2+1); got != want {
					t.Errorf("got %s want %s", got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
