package e2e

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv/ledgerfill"
)

// BenchmarkLedgerReads measures the engine's reads of stored Ion, in
// process, on a ledger of 2,000 blocks (kept in $STRAND_BENCH_DIR when set):
// Block reads and decodes a random journal block (the read under GetBlock,
// GetRevision and the proofs); Document runs a committed read of the whole
// table T, which decodes every stored revision; History runs a history()
// query, which decodes every stored history entry.
//
//	go test ./internal/server -run '^$' -bench LedgerReads -benchtime 2000x
func BenchmarkLedgerReads(b *testing.B) {
	const name = "bench"
	dir := ledgerfill.BenchDir(b, 2000)
	cfg := config.Default()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", dir
	n := servertest.StartConfig(b, cfg)
	e := n.Sessions()
	l, err := e.Ledger(name)
	if err != nil {
		b.Fatal(err)
	}
	tip := l.Next()
	b.Run("Block", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 2))
		b.ReportAllocs()
		for b.Loop() {
			if _, ok, err := l.Block(r.Uint64N(tip)); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	for _, q := range []struct{ name, stmt string }{
		{"Document", "SELECT COUNT(*) FROM T"},
		{"History", "SELECT COUNT(*) FROM history(T)"},
	} {
		b.Run(q.name, func(b *testing.B) {
			tok, err := e.StartSession(context.Background(), name)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				txID, err := e.StartTransaction(tok)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := e.ExecuteStatement(context.Background(), tok, txID, q.stmt, nil); err != nil {
					b.Fatal(err)
				}
				if err := e.AbortTransaction(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
