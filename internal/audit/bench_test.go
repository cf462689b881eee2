package audit_test

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/audit"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
	"github.com/strand-db/strand/internal/testenv/ledgerfill"
)

// BenchmarkVerify measures strand verify's throughput over a ledger of
// ledgerfill.BenchBlocks() blocks (default 1,000,000; built once, and kept
// in $STRAND_BENCH_DIR when set): blocks/s over the whole check, and
// separately for the journal phase (blocks, chain, tree) and the documents
// phase (h/, d/, r/ entries), and the CPU time per block (user + system,
// all goroutines), which tells what the check would reach on idle cores:
// about GOMAXPROCS / cpu-µs/block million blocks/s; and the wall time,
// allocations and bytes allocated per block (ns/block, allocs/block,
// B/block), which compare runs of different journal sizes.
//
//	STRAND_BENCH_DIR=/tmp/strand-bench go test ./internal/audit -run '^$' -bench Verify -benchtime 3x
//
// A small ledger is enough to compare two versions of the code:
//
//	STRAND_BENCH_BLOCKS=20000 STRAND_BENCH_DIR=/tmp/strand-bench-20k go test ./internal/audit -run '^$' -bench Verify -benchtime 5x
func BenchmarkVerify(b *testing.B) {
	dir := ledgerfill.BenchDir(b, ledgerfill.BenchBlocks())
	st, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var blocks, revs uint64
	var journalTime, docTime time.Duration
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep, err := audit.Run(st, audit.Options{Ledger: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		if !rep.OK() {
			b.Fatal(rep.FirstFailure())
		}
		l := rep.Ledgers[0]
		blocks += l.Blocks
		revs += l.Revisions
		journalTime += l.JournalTime
		docTime += l.DocumentsTime
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(blocks)/b.Elapsed().Seconds(), "blocks/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(blocks), "ns/block")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(blocks), "allocs/block")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(blocks), "B/block")
	b.ReportMetric(float64(blocks)/journalTime.Seconds(), "journal-blocks/s")
	b.ReportMetric(float64(revs)/docTime.Seconds(), "stored-revisions/s")
	b.ReportMetric(float64(blocks)/float64(b.N), "blocks")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(blocks), "cpu-µs/block")
}

// cpuTime is the process's user + system CPU time: on a shared machine it
// measures the work better than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
