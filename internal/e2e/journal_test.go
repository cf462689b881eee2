package e2e

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/amzn/ion-go/ion"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv"
)

// stmtCall is one statement a test transaction sent.
type stmtCall struct {
	stmt   string
	params []any
}

// TestJournalAfterWorkload runs a mixed workload and then checks the whole
// journal: every block verifies and chains to its predecessor; each
// transaction (read-only ones included) wrote exactly one block listing
// its statements in order with statementDigest = StatementHash(statement,
// parameters); DDL wrote system revisions; documents map to the statements
// that touched them.
func TestJournalAfterWorkload(t *testing.T) {
	n, drv := servertest.StartLedger(t, "journal", nil)
	l := n.LedgerEngine("journal")

	ts := ion.NewTimestampWithFractionalSeconds(time.Date(2020, 1, 2, 3, 4, 5, 6007, time.UTC), ion.TimestampPrecisionNanosecond, ion.TimezoneUTC, 9)
	type txSpec struct {
		name  string
		calls []stmtCall
		ddl   bool  // writes a system revision
		docs  int   // document revisions written
		touch []int // statements of the first document, when docs > 0
	}
	specs := []txSpec{
		{"create table", []stmtCall{{"CREATE TABLE J", nil}}, true, 0, nil},
		{"create index", []stmtCall{{"CREATE INDEX ON J (k)", nil}}, true, 0, nil},
		{"inserts with parameters", []stmtCall{
			{"INSERT INTO J ?", []any{map[string]any{"k": "a", "v": ion.MustParseDecimal("1.50"), "t": ts}}},
			{"INSERT INTO J VALUE {'k': ?, 'v': ?}", []any{"b", 2}},
		}, false, 2, []int{0}},
		{"read-only", []stmtCall{{"SELECT * FROM J WHERE k = ?", []any{"a"}}}, false, 0, nil},
		{"read then insert then update", []stmtCall{
			{"SELECT * FROM J WHERE k = ?", []any{"c"}},
			{"INSERT INTO J VALUE {'k': 'c', 'v': 0}", nil},
			{"UPDATE J SET v = ? WHERE k = ?", []any{3, "c"}},
		}, false, 1, []int{1, 2}},
		{"update and delete", []stmtCall{
			{"UPDATE J SET v = ? WHERE k = ?", []any{[]any{1, "x", nil}, "a"}},
			{"DELETE FROM J WHERE k = ?", []any{"b"}},
		}, false, 2, []int{0}},
		{"no statements", nil, false, 0, nil},
		{"DDL and DML together", []stmtCall{
			{"CREATE TABLE K", nil},
			{"INSERT INTO K VALUE {'z': 1}", nil},
		}, true, 1, []int{1}},
		{"drop table", []stmtCall{{"DROP TABLE K", nil}}, true, 0, nil},
	}
	txIDs := make([]string, len(specs))
	for i, s := range specs {
		_, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
			txIDs[i] = tx.ID()
			for _, c := range s.calls {
				if _, err := servertest.Rows(tx, c.stmt, c.params...); err != nil {
					return nil, err
				}
			}
			return nil, nil
		})
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}

	bs := servertest.VerifyChain(t, l)
	if len(bs) != len(specs) {
		t.Fatalf("journal has %d blocks, want one per transaction (%d)", len(bs), len(specs))
	}
	for i, s := range specs {
		b := bs[i]
		if b.TransactionID != txIDs[i] {
			t.Errorf("%s: block %d is transaction %s, want %s", s.name, i, b.TransactionID, txIDs[i])
			continue
		}
		if i > 0 && b.Timestamp.Before(bs[i-1].Timestamp) {
			t.Errorf("%s: block timestamp %v before the previous block's %v", s.name, b.Timestamp, bs[i-1].Timestamp)
		}
		if len(b.TransactionInfo.Statements) != len(s.calls) {
			t.Errorf("%s: block lists %d statements, want %d", s.name, len(b.TransactionInfo.Statements), len(s.calls))
			continue
		}
		for j, c := range s.calls {
			got := b.TransactionInfo.Statements[j]
			params := make([]*ionvalue.Value, len(c.params))
			for k, p := range c.params {
				params[k] = testenv.IonOf(t, p)
			}
			if got.Statement != c.stmt {
				t.Errorf("%s: statement %d is %q, want %q", s.name, j, got.Statement, c.stmt)
			}
			if want := qldbhash.StatementHash(c.stmt, params); !bytes.Equal(got.StatementDigest, want) {
				t.Errorf("%s: statement %d digest %x, want StatementHash %x", s.name, j, got.StatementDigest, want)
			}
			if got.StartTime.IsZero() || !got.StartTime.Equal(got.StartTime.Truncate(time.Millisecond)) {
				t.Errorf("%s: statement %d startTime %v is not millisecond precision", s.name, j, got.StartTime)
			}
		}
		var sys, docRevs int
		for _, r := range b.Revisions {
			if r.IsSystem() {
				sys++
				continue
			}
			docRevs++
			if r.TableName == "" || r.TableID == "" {
				t.Errorf("%s: revision of %s has no table", s.name, r.Metadata.ID)
			}
			if r.Metadata.TxID != b.TransactionID || !r.Metadata.TxTime.Equal(b.Timestamp) {
				t.Errorf("%s: revision metadata %+v does not match block %s at %v", s.name, r.Metadata, b.TransactionID, b.Timestamp)
			}
		}
		if (sys > 0) != s.ddl {
			t.Errorf("%s: %d system revisions, want DDL=%v", s.name, sys, s.ddl)
		}
		if docRevs != s.docs || len(b.TransactionInfo.Documents) != s.docs {
			t.Errorf("%s: %d document revisions and %d documents, want %d", s.name, docRevs, len(b.TransactionInfo.Documents), s.docs)
		}
		if s.docs > 0 && len(b.TransactionInfo.Documents) > 0 {
			if got := b.TransactionInfo.Documents[0].Statements; !slices.Equal(got, s.touch) {
				t.Errorf("%s: first document touched by statements %v, want %v", s.name, got, s.touch)
			}
		}
	}

	// The block survives a round trip through its Ion form (GetBlock's).
	last := bs[len(bs)-1]
	back, err := journal.BlockFromIon(last.Ion())
	if err != nil {
		t.Fatalf("BlockFromIon: %v", err)
	}
	if err := journal.VerifyBlock(back, last.PreviousBlockHash); err != nil {
		t.Errorf("block after an Ion round trip: %v", err)
	}
}
