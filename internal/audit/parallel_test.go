package audit_test

import (
	"fmt"
	"testing"

	"github.com/strand-db/strand/internal/audit"
	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv/ledgerfill"
)

// TestParallelNamesTheSameDamage damages one thing at a time in a block in
// the middle of a journal of several worker batches (its stored bytes, its
// history copy, its ledger tree leaf, the block itself) and checks that the
// parallel check (many workers hashing batches out of order, the h/ entries
// matched by their bytes) reports exactly the failure a single worker
// reports: same ledger, block, check, key and message, and the block
// damaged.
func TestParallelNamesTheSameDamage(t *testing.T) {
	servertest.RequireEmbeddedStore(t, "ledgerfill builds an embedded store")
	dir := t.TempDir()
	const blocks = 1100 // five batches of 256 (audit.batchSize) in flight among the workers
	if err := ledgerfill.Build(dir, "bench", blocks, ledgerfill.Options{Sessions: 32}); err != nil {
		t.Fatal(err)
	}
	st := openStore(t, dir)
	tp := newTamperer(t, st, "bench")

	// A block in the middle of the run that inserted or updated a
	// document (DELETE blocks hold a revision without data).
	var seq uint64
	var rev struct {
		table, doc string
		version    uint64
	}
	for seq = blocks / 2; ; seq++ {
		b := servertest.DecodeBlock(t, tp.get(tp.key("b/", seq)))
		if len(b.Revisions) == 1 && b.Revisions[0].Data != nil {
			r := b.Revisions[0]
			rev.table, rev.doc, rev.version = r.TableID, r.Metadata.ID, r.Metadata.Version
			break
		}
	}
	blockKey := tp.key("b/", seq)
	hKey := tp.key("h/", rev.table, "/", rev.doc, "/", rev.version)
	leaf := tp.key("m/", byte(0), seq)

	cases := []struct {
		name   string
		tamper func()
		check  string
	}{
		{"block byte", func() { tp.flip(blockKey, []byte(rev.doc)) }, audit.CheckBlock},
		{"block missing", func() { tp.set(blockKey, nil) }, audit.CheckSequence},
		{"history byte", func() { tp.flip(hKey, []byte(rev.doc)) }, audit.CheckHistory},
		{"history replaced by another revision's", func() {
			other := servertest.DecodeBlock(t, tp.get(tp.key("b/", seq+7)))
			for _, r := range other.Revisions {
				if !r.IsSystem() {
					tp.set(hKey, tp.get(tp.key("h/", r.TableID, "/", r.Metadata.ID, "/", r.Metadata.Version)))
					return
				}
			}
			t.Fatal("no revision to copy")
		}, audit.CheckHistory},
		{"tree leaf", func() { tp.set(leaf, qldbhash.HashString("x")) }, audit.CheckTree},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer tp.restore()
			c.tamper()
			var want string
			for _, workers := range []int{1, 2, 8} {
				rep, err := audit.Run(st, audit.Options{Ledger: "bench", Workers: workers})
				if err != nil {
					t.Fatal(err)
				}
				f := rep.FirstFailure()
				if f == nil {
					t.Fatalf("workers=%d: the check passed", workers)
				}
				got := fmt.Sprintf("%s|%d|%v|%s|%s|%s", f.Ledger, f.Block, f.HasBlock, f.Check, f.Key, f.Err)
				if workers == 1 {
					want = got
					if f.Ledger != "bench" || !f.HasBlock || f.Block != seq || f.Check != c.check {
						t.Fatalf("one worker: got %v (check %s, block %d); want check %s at block %d", f, f.Check, f.Block, c.check, seq)
					}
					continue
				}
				if got != want {
					t.Errorf("workers=%d:\n got %s\nwant %s", workers, got, want)
				}
			}
		})
	}
	rep, err := audit.Run(st, audit.Options{Ledger: "bench"})
	if err != nil || !rep.OK() {
		t.Fatalf("after restoring: %v %v", rep.FirstFailure(), err)
	}
}
