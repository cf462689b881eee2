package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/amzn/ion-go/ion"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/server/servertest"
)

// fillTable inserts documents {i: 0, note: ...} .. {i: docs-1, note: ...}
// into table, 40 (QLDB's per-transaction limit) per transaction, conc
// transactions at a time. A result page of 200 of them is about 12 KB:
// longer than net/http reads ahead with the response headers, and cheap
// for the server to produce, which is what makes the race in
// TestDriverReadsLongResult likely (with bigger pages the server answers
// too late for it).
func fillTable(t testing.TB, drv *qldbdriver.QLDBDriver, table string, docs, conc int) {
	t.Helper()
	starts := make(chan int)
	errs := make(chan error, conc)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for start := range starts {
				var b strings.Builder
				fmt.Fprintf(&b, "INSERT INTO %s <<", table)
				for i := start; i < start+40 && i < docs; i++ {
					if i > start {
						b.WriteString(", ")
					}
					fmt.Fprintf(&b, "{'i': %d, 'note': 'document %d of a long result'}", i, i)
				}
				b.WriteString(">>")
				if _, err := servertest.Query(drv, b.String()); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	func() {
		defer close(starts)
		for start := 0; start < docs; start += 40 {
			select {
			case starts <- start:
			case err := <-errs:
				t.Errorf("fill %s: %v", table, err)
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("fill %s: %v", table, err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// TestDriverReadsLongResult reads a large table in one transaction (about a
// hundred FetchPage calls) with the official Go driver, several times, and
// checks that every document arrives. On loopback, smithy-go's request body
// makes net/http close the connection under a long response now and then
// (aws/aws-sdk-go-v2 issues 1825 and 2737); the test clients carry the
// setting docs/compatibility.md gives Go users (servertest.HTTPClient,
// package plainbody), and without it this test fails.
func TestDriverReadsLongResult(t *testing.T) {
	const docs, reads = 3000, 4
	n := servertest.Start(t, nil)
	n.CreateLedger("long")
	fill := n.PooledDriver("long", 8)
	servertest.MustQuery(t, fill, "CREATE TABLE T")
	fillTable(t, fill, "T", docs, 8)

	drv := n.Driver("long", func(o *qldbdriver.DriverOptions) { o.RetryPolicy.MaxRetryLimit = 0 })
	for r := 0; r < reads; r++ {
		rows, err := servertest.Query(drv, "SELECT * FROM T")
		if err != nil {
			t.Fatalf("read %d of %d: %v", r+1, reads, err)
		}
		seen := make([]bool, docs)
		for _, row := range rows {
			v := row.Get("i")
			if v == nil || v.Type != ion.IntType || v.Int < 0 || v.Int >= docs || seen[v.Int] {
				t.Fatalf("read %d: unexpected or repeated row %s", r+1, row)
			}
			seen[v.Int] = true
		}
		if len(rows) != docs {
			t.Fatalf("read %d: %d rows, want %d", r+1, len(rows), docs)
		}
	}
}
