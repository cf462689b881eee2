package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/server/servertest"
)

// TestPartiQLBench measures, through the QLDB Go driver (issue 13's
// benchmark): an indexed equality lookup against a full scan of the same
// table (latency and ConsumedIOs.ReadIOs), a three-table join driven by
// indexes, and the OCC conflict rate of concurrent read-modify-write
// transactions that find their document by an indexed field (a read set
// of one index key and one document) against the same transactions
// finding it by an unindexed field (a full scan: the whole table in the
// read set, which is what every read recorded before index-aware read
// sets).
//
// The CI short form uses 1,000 documents and checks only the ReadIOs. The
// long form (STRAND_LONG=1, STRAND_PQL_DOCS to change the size, 100,000 by
// default) logs the figures BENCHMARKS.md reports:
//
//	STRAND_LONG=1 GO_TEST_FLAGS='-run TestPartiQLBench -v -timeout 30m' scripts/test.sh ./internal/e2e
func TestPartiQLBench(t *testing.T) {
	docs, long := 1000, os.Getenv("STRAND_LONG") == "1"
	if long {
		docs = 100000
		if v := os.Getenv("STRAND_PQL_DOCS"); v != "" {
			var err error
			if docs, err = strconv.Atoi(v); err != nil || docs < 1000 {
				t.Fatalf("STRAND_PQL_DOCS=%q: want a number >= 1000", v)
			}
		}
	}
	const conc = 8
	const groups = 1000
	n := servertest.Start(t, nil)
	n.CreateLedger("bench")
	drv := n.PooledDriver("bench", conc)
	servertest.Commit(t, drv, "CREATE TABLE Big", "CREATE INDEX ON Big (k)", "CREATE TABLE Owner", "CREATE INDEX ON Owner (oid)",
		"CREATE TABLE City", "CREATE INDEX ON City (cid)")

	pad := strings.Repeat("x", 100)
	start := time.Now()
	insert := func(table string, total int, doc func(i int) map[string]any) {
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, conc)
		for w := 0; w < conc; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					lo := int(next.Add(40)) - 40
					if lo >= total {
						return
					}
					batch := make([]any, 0, 40)
					for i := lo; i < min(lo+40, total); i++ {
						batch = append(batch, doc(i))
					}
					if _, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
						return tx.Execute("INSERT INTO "+table+" ?", batch)
					}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("load %s: %v", table, err)
		}
	}
	insert("City", 100, func(i int) map[string]any { return map[string]any{"cid": i, "name": fmt.Sprintf("city%d", i)} })
	insert("Owner", groups, func(i int) map[string]any { return map[string]any{"oid": i, "city": i % 100} })
	insert("Big", docs, func(i int) map[string]any {
		return map[string]any{"k": i, "u": i, "owner": i % groups, "bal": 0, "pad": pad}
	})
	t.Logf("loaded %d + %d + 100 documents in %v", docs, groups, time.Since(start).Round(time.Millisecond))

	// measure runs stmt reps times (each in its own transaction) and
	// returns the median and the slowest latency and the ReadIOs.
	measure := func(stmt string, reps int, arg func(i int) []any) (med, worst time.Duration, reads int64, rows int) {
		var lat []time.Duration
		for i := 0; i < reps; i++ {
			t0 := time.Now()
			_, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
				var err error
				reads, rows, err = readIOs(tx, stmt, arg(i)...)
				return nil, err
			})
			if err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		return lat[len(lat)/2], lat[len(lat)-1], reads, rows
	}
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(int) []any { return []any{r.IntN(docs)} }
	reps, scanReps := 30, 3
	if long {
		reps, scanReps = 200, 5
	}
	type line struct {
		what       string
		med, worst time.Duration
		reads      int64
	}
	var lines []line
	add := func(what, stmt string, reps int, arg func(int) []any, maxReads, minReads int64, wantRows int) {
		med, worst, reads, rows := measure(stmt, reps, arg)
		if rows != wantRows || reads > maxReads || reads < minReads {
			t.Errorf("%s: %d rows, ReadIOs %d; want %d rows and %d..%d ReadIOs", what, rows, reads, wantRows, minReads, maxReads)
		}
		lines = append(lines, line{what, med, worst, reads})
	}
	add("indexed equality (k = ?)", "SELECT * FROM Big WHERE k = ?", reps, pick, 1, 1, 1)
	add("full scan (u = ?)", "SELECT * FROM Big WHERE u = ?", scanReps, pick, int64(docs), int64(docs), 1)
	add("indexed IN (k IN (?, ?, ?))", "SELECT * FROM Big WHERE k IN (?, ?, ?)", reps, func(int) []any {
		a := r.IntN(docs / 3)
		return []any{a, a + docs/3, a + 2*(docs/3)}
	}, 3, 3, 3)
	join := "SELECT b.k, o.oid, c.name FROM Big AS b, Owner AS o, City AS c WHERE b.k = ? AND o.oid = b.owner AND c.cid = o.city"
	add("three-table join, indexed (1 row)", join, reps, pick, 3, 3, 1)
	per := docs / groups
	join2 := "SELECT b.k, c.name FROM Owner AS o, Big AS b, City AS c WHERE o.oid = ? AND b.owner = o.oid AND c.cid = o.city"
	add(fmt.Sprintf("three-table join, owner's %d documents (Big scanned per owner)", per), join2, scanReps, func(int) []any { return []any{r.IntN(groups)} },
		int64(2+docs+per), int64(docs), per)
	for _, l := range lines {
		t.Logf("| %s | %v | %v | %d |", l.what, l.med.Round(10*time.Microsecond), l.worst.Round(10*time.Microsecond), l.reads)
	}

	// OCC: writers each read one random document of the first 1,000 of a
	// table and add 1 to it, without retries; the rate is conflicts /
	// attempts. A transaction that outlives QLDB's 30 s limit (full scans
	// of a large table under contention) is counted apart.
	type occResult struct {
		attempts, conflicts, expired int64
		took                         time.Duration
	}
	occ := func(table, field string, writers, perWriter int) occResult {
		sel := "SELECT * FROM " + table + " WHERE " + field + " = ?"
		once := n.PooledDriver("bench", writers, func(o *qldbdriver.DriverOptions) { o.RetryPolicy.MaxRetryLimit = 0 })
		var wg sync.WaitGroup
		var fail atomic.Value
		var res occResult
		t0 := time.Now()
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				rw := rand.New(rand.NewPCG(uint64(w), 9))
				for i := 0; i < perWriter; i++ {
					k := rw.IntN(1000)
					atomic.AddInt64(&res.attempts, 1)
					_, err := once.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
						if _, _, err := readIOs(tx, sel, k); err != nil {
							return nil, err
						}
						_, err := tx.Execute("UPDATE "+table+" SET bal = bal + 1 WHERE k = ?", k)
						return nil, err
					})
					switch {
					case err == nil:
					case strings.Contains(err.Error(), "OccConflict"):
						atomic.AddInt64(&res.conflicts, 1)
					case strings.Contains(err.Error(), "has expired"):
						atomic.AddInt64(&res.expired, 1)
					default:
						fail.Store(err)
						return
					}
				}
			}(w)
		}
		wg.Wait()
		if err, _ := fail.Load().(error); err != nil {
			t.Fatalf("OCC workload %s: %v", sel, err)
		}
		res.took = time.Since(t0)
		t.Logf("OCC, %d writers, %s: %d/%d conflicts (%.1f%%), %d expired, in %v", writers, sel, res.conflicts, res.attempts,
			100*float64(res.conflicts)/float64(res.attempts), res.expired, res.took.Round(time.Millisecond))
		return res
	}
	servertest.Commit(t, drv, "CREATE TABLE Small", "CREATE INDEX ON Small (k)")
	insert("Small", 1000, func(i int) map[string]any { return map[string]any{"k": i, "u": i, "bal": 0, "pad": pad} })
	const writers = 8
	if long {
		occ("Small", "k", writers, 100)
		occ("Small", "u", writers, 20)
		occ("Big", "k", writers, 100)
		occ("Big", "u", writers, 1)
	} else {
		occ("Small", "k", writers, 10)
		occ("Small", "u", writers, 3)
	}
	// The conflict counts depend on scheduling, so they are reported, not
	// checked; TestIndexedReadsNarrowReadSet checks the behaviour.
}
