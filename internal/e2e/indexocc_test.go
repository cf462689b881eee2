package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/server/servertest"
)

// readIOs runs stmt in tx, consumes every row and returns the statement's
// ConsumedIOs.ReadIOs and its row count.
func readIOs(tx qldbdriver.Transaction, stmt string, params ...any) (int64, int, error) {
	r, err := tx.Execute(stmt, params...)
	if err != nil {
		return 0, 0, err
	}
	n := 0
	for r.Next(tx) {
		n++
	}
	if err := r.Err(); err != nil {
		return 0, 0, err
	}
	io := r.GetConsumedIOs()
	if io == nil || io.GetReadIOs() == nil {
		return 0, n, fmt.Errorf("%s: no ConsumedIOs", stmt)
	}
	return *io.GetReadIOs(), n, nil
}

// TestIndexedReadsNarrowReadSet (issue 13, item 5) drives two interleaved
// transactions through the QLDB Go driver against one table of 30
// documents. Each reads one document and updates it; the first commits
// only after the second has committed. When both select by an indexed
// field, by document id, or by IN on an indexed field, they touched
// different documents and both commit, and the selects read only what they
// returned (ConsumedIOs). When they select by an unindexed field (a full
// scan of the table), the first fails with an OCC conflict, as in QLDB.
func TestIndexedReadsNarrowReadSet(t *testing.T) {
	n, drv := servertest.StartLedger(t, "occix", nil)
	servertest.Commit(t, drv, "CREATE TABLE Acct", "CREATE INDEX ON Acct (num)")
	var docs []string
	for i := 0; i < 30; i++ {
		docs = append(docs, fmt.Sprintf("{'num': %d, 'plain': %d, 'bal': 0}", i, i))
	}
	servertest.Commit(t, drv, "INSERT INTO Acct << "+strings.Join(docs, ", ")+" >>")
	ids := map[int]string{}
	for _, i := range []int{3, 7} {
		rows := servertest.MustQuery(t, drv, "SELECT id FROM Acct BY id WHERE num = ?", i)
		if len(rows) != 1 {
			t.Fatalf("document %d: %d rows", i, len(rows))
		}
		ids[i] = rows[0].Get("id").Text
	}
	once := n.Driver("occix", func(o *qldbdriver.DriverOptions) { o.RetryPolicy.MaxRetryLimit = 0 })

	cases := []struct {
		name      string
		sel       string
		arg       func(i int) any
		maxReads  int64 // the select's ReadIOs must not exceed it
		wantOCC   bool
		indexPath bool
	}{
		{"indexed field", "SELECT * FROM Acct WHERE num = ?", func(i int) any { return i }, 1, false, true},
		{"indexed IN", "SELECT * FROM Acct WHERE num IN (?, 1000)", func(i int) any { return i }, 1, false, true},
		{"document id", "SELECT * FROM Acct BY id WHERE id = ?", func(i int) any { return ids[i] }, 1, false, true},
		{"full scan", "SELECT * FROM Acct WHERE plain = ?", func(i int) any { return i }, 1 << 30, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inA := make(chan struct{})
			bDone := make(chan error, 1)
			var aReads int64
			go func() {
				<-inA
				_, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
					if _, _, err := readIOs(tx, tc.sel, tc.arg(7)); err != nil {
						return nil, err
					}
					_, err := tx.Execute("UPDATE Acct SET bal = bal + 1 WHERE num = ?", 7)
					return nil, err
				})
				bDone <- err
			}()
			_, err := once.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
				reads, rows, err := readIOs(tx, tc.sel, tc.arg(3))
				if err != nil {
					return nil, err
				}
				if rows != 1 {
					return nil, fmt.Errorf("%d rows, want 1", rows)
				}
				aReads = reads
				if _, err := tx.Execute("UPDATE Acct SET bal = bal + 1 WHERE num = ?", 3); err != nil {
					return nil, err
				}
				close(inA)
				if err := <-bDone; err != nil {
					return nil, fmt.Errorf("concurrent writer: %w", err)
				}
				return nil, nil
			})
			gotOCC := err != nil && strings.Contains(err.Error(), "OccConflict")
			if tc.wantOCC != gotOCC {
				t.Fatalf("commit error %v; want an OCC conflict: %v", err, tc.wantOCC)
			}
			if !tc.wantOCC && err != nil {
				t.Fatal(err)
			}
			if aReads > tc.maxReads {
				t.Errorf("the select read %d documents, want at most %d", aReads, tc.maxReads)
			}
			if !tc.indexPath && aReads < 30 {
				t.Errorf("the full scan read %d documents, want at least 30", aReads)
			}
		})
	}
}
