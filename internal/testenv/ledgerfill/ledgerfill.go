// Package ledgerfill builds real ledgers quickly, for the tests and
// benchmarks of verification: Build is internal/bench/fill's in-process
// filler (the real commit path, no HTTP), and BenchDir keeps a benchmark's
// journal between runs.
package ledgerfill

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/bench/fill"
)

// Options tune Build (see fill.Options).
type Options = fill.Options

// Build is fill.Build: it opens dir (creating it), creates the ledger name
// when it does not exist and commits through the transaction engine until
// the journal holds at least blocks blocks, then closes the node.
func Build(dir, name string, blocks uint64, opts Options) error {
	return fill.Build(dir, name, blocks, opts)
}

// BenchBlocks is the journal size benchmarks use: $STRAND_BENCH_BLOCKS, or
// 1,000,000.
func BenchBlocks() uint64 {
	if v := os.Getenv("STRAND_BENCH_BLOCKS"); v != "" {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil && n > 1 {
			return n
		}
	}
	return 1_000_000
}

// BenchDir returns a data directory holding ledger "bench" with at least
// blocks blocks (built with the default Options), for benchmarks. With
// $STRAND_BENCH_DIR set the directory is kept there and later runs reuse
// it (and grow it when they need more blocks); otherwise it is a temporary
// directory removed when tb ends. Building a million blocks takes minutes.
func BenchDir(tb testing.TB, blocks uint64) string {
	tb.Helper()
	dir := os.Getenv("STRAND_BENCH_DIR")
	if dir == "" {
		dir = tb.TempDir()
	}
	start := time.Now()
	err := Build(dir, "bench", blocks, Options{Progress: func(n uint64) {
		tb.Logf("ledgerfill: building %s: %d/%d blocks, %.0f blocks/s", dir, n, blocks, float64(n)/time.Since(start).Seconds())
	}})
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}
