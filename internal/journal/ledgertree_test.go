package journal

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/bits"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/store"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
)

// testLeaf returns a deterministic 32-byte leaf for index i.
func testLeaf(i uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], i)
	h := sha256.Sum256(b[:])
	return h[:]
}

func testLeaves(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = testLeaf(uint64(i))
	}
	return out
}

// countingReader counts GetNode calls.
type countingReader struct {
	r     TreeReader
	reads int
}

func (c *countingReader) GetNode(level uint8, index uint64) ([]byte, bool, error) {
	c.reads++
	return c.r.GetNode(level, index)
}

func equalProofs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// buildMem appends leaves to a Tree over fresh MemNodes.
func buildMem(t testing.TB, leaves [][]byte) (*Tree, *MemNodes) {
	t.Helper()
	mem := NewMemNodes()
	tr := NewTree()
	for _, l := range leaves {
		if err := tr.Append(mem, l); err != nil {
			t.Fatal(err)
		}
	}
	return tr, mem
}

// TestLedgerTreeSmallExhaustive checks Root and InclusionProof against
// qldbhash.MerkleRoot and AuditPath for every size 1..300 and every index,
// plus the read bounds.
func TestLedgerTreeSmallExhaustive(t *testing.T) {
	const max = 300
	leaves := testLeaves(max)
	tr, mem := buildMem(t, leaves)
	if got, want := mem.Len(), 2*max-bits.OnesCount(max); got != want {
		t.Errorf("stored %d nodes, want 2n-popcount(n) = %d", got, want)
	}
	for size := 1; size <= max; size++ {
		want := qldbhash.MerkleRoot(leaves[:size])
		cr := &countingReader{r: mem}
		got, err := Root(cr, uint64(size))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("Root(%d) = %x, want %x", size, got, want)
		}
		if cr.reads != bits.OnesCount(uint(size)) {
			t.Errorf("Root(%d) read %d nodes, want popcount = %d", size, cr.reads, bits.OnesCount(uint(size)))
		}
		if got, err := tr.RootAt(mem, uint64(size)); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("RootAt(%d) = %x, %v, want %x", size, got, err, want)
		}
		maxReads := bits.Len(uint(size-1)) + bits.OnesCount(uint(size))
		for idx := 0; idx < size; idx++ {
			cr := &countingReader{r: mem}
			proof, err := InclusionProof(cr, uint64(idx), uint64(size))
			if err != nil {
				t.Fatal(err)
			}
			if wantP := qldbhash.AuditPath(leaves[:size], idx); !equalProofs(proof, wantP) {
				t.Fatalf("InclusionProof(%d, %d) = %x, want %x", idx, size, proof, wantP)
			}
			if f := qldbhash.Fold(leaves[idx], proof); !bytes.Equal(f, want) {
				t.Fatalf("Fold(leaf %d, proof at %d) = %x, want root %x", idx, size, f, want)
			}
			if cr.reads > maxReads {
				t.Errorf("InclusionProof(%d, %d) read %d nodes, want <= %d", idx, size, cr.reads, maxReads)
			}
			tp, err := tr.InclusionProof(mem, uint64(idx), uint64(size))
			if err != nil || !equalProofs(tp, proof) {
				t.Fatalf("Tree.InclusionProof(%d, %d) = %x, %v, want %x", idx, size, tp, err, proof)
			}
		}
	}
}

// TestLedgerTreeIncremental checks Tree.Root after every append, and that
// the free Append (with reads) stores exactly the nodes Tree.Append does.
func TestLedgerTreeIncremental(t *testing.T) {
	const max = 300
	leaves := testLeaves(max)
	tr := NewTree()
	if tr.Root() != nil {
		t.Fatal("empty tree root is not nil")
	}
	memT, memF := NewMemNodes(), NewMemNodes()
	for i, l := range leaves {
		if err := tr.Append(memT, l); err != nil {
			t.Fatal(err)
		}
		cr := &countingReader{r: memF}
		if err := Append(cr, memF, uint64(i), l); err != nil {
			t.Fatal(err)
		}
		if cr.reads != bits.TrailingZeros(^uint(i)) {
			t.Errorf("Append(%d) read %d nodes, want trailing ones = %d", i, cr.reads, bits.TrailingZeros(^uint(i)))
		}
		if tr.Size() != uint64(i+1) {
			t.Fatalf("Size() = %d, want %d", tr.Size(), i+1)
		}
		if got, want := tr.Root(), qldbhash.MerkleRoot(leaves[:i+1]); !bytes.Equal(got, want) {
			t.Fatalf("Root() at %d = %x, want %x", i+1, got, want)
		}
	}
	if len(memT.m) != len(memF.m) {
		t.Fatalf("Tree stored %d nodes, Append %d", len(memT.m), len(memF.m))
	}
	for k, v := range memT.m {
		if !bytes.Equal(memF.m[k], v) {
			t.Fatalf("node %v differs: %x vs %x", k, v, memF.m[k])
		}
	}
	// LoadTree rebuilds the same state.
	lt, err := LoadTree(memT, max)
	if err != nil {
		t.Fatal(err)
	}
	if lt.Size() != tr.Size() {
		t.Fatalf("LoadTree size %d, want %d", lt.Size(), tr.Size())
	}
	for k := range lt.frontier {
		if !bytes.Equal(lt.frontier[k], tr.frontier[k]) {
			t.Fatalf("LoadTree frontier[%d] = %x, want %x", k, lt.frontier[k], tr.frontier[k])
		}
	}
}

// TestLedgerTreeLarge checks a 100k-leaf tree at random tips against the
// naive functions (sampled, as those are O(n)) and by folding many proofs.
func TestLedgerTreeLarge(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	leaves := testLeaves(n)
	tr, mem := buildMem(t, leaves)
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{n, n - 1, 1 << 16, 1<<16 + 1, 1<<16 - 1}
	for range 5 {
		sizes = append(sizes, 1+rng.IntN(n))
	}
	for _, size := range sizes {
		if size > n {
			continue
		}
		want := qldbhash.MerkleRoot(leaves[:size])
		got, err := tr.RootAt(mem, uint64(size))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("RootAt(%d) = %x, %v, want %x", size, got, err, want)
		}
		for _, idx := range []int{0, size - 1, rng.IntN(size), rng.IntN(size)} {
			proof, err := InclusionProof(mem, uint64(idx), uint64(size))
			if err != nil {
				t.Fatal(err)
			}
			if wantP := qldbhash.AuditPath(leaves[:size], idx); !equalProofs(proof, wantP) {
				t.Fatalf("InclusionProof(%d, %d) differs from AuditPath", idx, size)
			}
		}
		for range 200 {
			idx := rng.IntN(size)
			proof, err := tr.InclusionProof(mem, uint64(idx), uint64(size))
			if err != nil {
				t.Fatal(err)
			}
			if f := qldbhash.Fold(leaves[idx], proof); !bytes.Equal(f, want) {
				t.Fatalf("Fold(leaf %d, proof at %d) does not give the root", idx, size)
			}
		}
	}
}

// failingStore fails every read and write.
type failingStore struct{}

var errInjected = errors.New("injected")

func (failingStore) GetNode(uint8, uint64) ([]byte, bool, error) { return nil, false, errInjected }
func (failingStore) SetNode(uint8, uint64, []byte) error         { return errInjected }
func (failingStore) Get(key []byte) ([]byte, bool, error)        { return nil, false, errInjected }
func (failingStore) NewIter(_, _ []byte) (store.Iterator, error) { return nil, errInjected }

// failingWriter is a store.Writer whose Set fails (other methods panic).
type failingWriter struct{ store.Writer }

func (failingWriter) Set(key, value []byte) error { return errInjected }

func TestLedgerTreeErrors(t *testing.T) {
	leaves := testLeaves(10)
	tr, mem := buildMem(t, leaves)

	if _, err := InclusionProof(mem, 10, 10); !errors.Is(err, ErrTreeRange) {
		t.Errorf("InclusionProof(index = size) error %v, want ErrTreeRange", err)
	}
	if _, err := InclusionProof(mem, 0, 0); !errors.Is(err, ErrTreeRange) {
		t.Errorf("InclusionProof(size 0) error %v, want ErrTreeRange", err)
	}
	if _, err := tr.InclusionProof(mem, 3, 11); !errors.Is(err, ErrTreeRange) {
		t.Errorf("Tree.InclusionProof(size > tree) error %v, want ErrTreeRange", err)
	}
	if _, err := tr.InclusionProof(mem, 5, 5); !errors.Is(err, ErrTreeRange) {
		t.Errorf("Tree.InclusionProof(index = size) error %v, want ErrTreeRange", err)
	}
	if _, err := tr.RootAt(mem, 11); !errors.Is(err, ErrTreeRange) {
		t.Errorf("RootAt(size > tree) error %v, want ErrTreeRange", err)
	}
	// The free functions only see storage: a tip beyond it is missing nodes.
	if _, err := Root(mem, 11); !errors.Is(err, ErrTreeNodeMissing) {
		t.Errorf("Root(size > tree) error %v, want ErrTreeNodeMissing", err)
	}
	if _, err := InclusionProof(mem, 2, 12); !errors.Is(err, ErrTreeNodeMissing) {
		t.Errorf("InclusionProof(size > tree) error %v, want ErrTreeNodeMissing", err)
	}
	if _, err := Root(mem, MaxTreeSize+1); !errors.Is(err, ErrTreeRange) {
		t.Errorf("Root(size > max) error %v, want ErrTreeRange", err)
	}
	if r, err := Root(mem, 0); r != nil || err != nil {
		t.Errorf("Root(0) = %x, %v, want nil, nil", r, err)
	}
	if p, err := InclusionProof(mem, 0, 1); err != nil || len(p) != 0 {
		t.Errorf("InclusionProof(0, 1) = %x, %v, want empty", p, err)
	}

	// Bad leaves leave the tree unchanged.
	for _, bad := range [][]byte{nil, make([]byte, 31), make([]byte, 33)} {
		if err := tr.Append(mem, bad); !errors.Is(err, qldbhash.ErrLength) {
			t.Errorf("Append(%d-byte leaf) error %v, want ErrLength", len(bad), err)
		}
		if err := Append(mem, mem, 10, bad); !errors.Is(err, qldbhash.ErrLength) {
			t.Errorf("free Append(%d-byte leaf) error %v, want ErrLength", len(bad), err)
		}
	}
	if tr.Size() != 10 {
		t.Fatalf("size after failed appends = %d", tr.Size())
	}

	// Storage errors propagate and leave the Tree unchanged.
	before := tr.Root()
	if err := tr.Append(failingStore{}, testLeaf(10)); !errors.Is(err, errInjected) {
		t.Errorf("Append with failing writer: %v", err)
	}
	if tr.Size() != 10 || !bytes.Equal(tr.Root(), before) {
		t.Error("failed Append changed the tree")
	}
	if _, err := Root(failingStore{}, 5); !errors.Is(err, errInjected) {
		t.Errorf("Root with failing reader: %v", err)
	}
	if _, err := InclusionProof(failingStore{}, 1, 5); !errors.Is(err, errInjected) {
		t.Errorf("InclusionProof with failing reader: %v", err)
	}
	if _, err := LoadTree(failingStore{}, 5); !errors.Is(err, errInjected) {
		t.Errorf("LoadTree with failing reader: %v", err)
	}
	if _, err := Root(StoreNodes{Store: failingStore{}}, 5); !errors.Is(err, errInjected) {
		t.Errorf("StoreNodes with failing store: %v", err)
	}
	if err := tr.Clone().Append(BatchNodes{Batch: failingWriter{}}, testLeaf(10)); !errors.Is(err, errInjected) {
		t.Errorf("BatchNodes with failing batch: %v", err)
	}

	// LoadTree checks the size against storage.
	if _, err := LoadTree(mem, 9); err == nil {
		t.Error("LoadTree(9) of a 10-leaf tree succeeded")
	}
	if _, err := LoadTree(mem, 11); !errors.Is(err, ErrTreeNodeMissing) {
		t.Errorf("LoadTree(11) of a 10-leaf tree: %v, want ErrTreeNodeMissing", err)
	}
	if lt, err := LoadTree(NewMemNodes(), 0); err != nil || lt.Size() != 0 || lt.Root() != nil {
		t.Errorf("LoadTree(empty, 0) = %v, %v", lt, err)
	}

	// A corrupt node is reported, not used.
	bad := NewMemNodes()
	for k, v := range mem.m {
		bad.m[k] = v
	}
	bad.m[memKey{3, 0}] = []byte("short")
	if _, err := Root(bad, 10); err == nil || errors.Is(err, ErrTreeNodeMissing) {
		t.Errorf("Root over a corrupt node: %v", err)
	}
}

// TestLedgerTreeClone checks that appending to a clone leaves the original
// untouched (the commit-then-adopt pattern).
func TestLedgerTreeClone(t *testing.T) {
	leaves := testLeaves(7)
	tr, mem := buildMem(t, leaves)
	root := tr.Root()
	c := tr.Clone()
	for i := 7; i < 20; i++ {
		if err := c.Append(mem, testLeaf(uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if tr.Size() != 7 || !bytes.Equal(tr.Root(), root) {
		t.Error("appending to a clone changed the original")
	}
	if got, want := c.Root(), qldbhash.MerkleRoot(testLeaves(20)); !bytes.Equal(got, want) {
		t.Errorf("clone root %x, want %x", got, want)
	}
}

func TestNodeKey(t *testing.T) {
	p := []byte("l/x/t/")
	k := NodeKey(p, 2, 0x0102030405060708)
	want := append([]byte("l/x/t/"), 2, 1, 2, 3, 4, 5, 6, 7, 8)
	if !bytes.Equal(k, want) {
		t.Fatalf("NodeKey = %x, want %x", k, want)
	}
	if bytes.Compare(NodeKey(p, 0, 255), NodeKey(p, 0, 256)) >= 0 || bytes.Compare(NodeKey(p, 0, ^uint64(0)), NodeKey(p, 1, 0)) >= 0 {
		t.Error("node keys do not sort by (level, index)")
	}
	k[0] = 'X'
	if p[0] != 'l' {
		t.Error("NodeKey aliases the prefix")
	}
}

// TestLedgerTreePersistence runs the tree over a real store: appends in
// synced batches of several blocks, a discarded batch, reopening the store,
// and the read-only free Append over an indexed batch.
func TestLedgerTreePersistence(t *testing.T) {
	dir := t.TempDir()
	prefix := []byte("l/ledger1/t/")
	st, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Another tree under a neighbouring prefix must not interfere.
	other := []byte("l/ledger0/t/")
	ob := st.NewBatch()
	otr := NewTree()
	for i := range 50 {
		if err := otr.Append(BatchNodes{Batch: ob, Prefix: other}, testLeaf(uint64(1000+i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Apply(ob); err != nil {
		t.Fatal(err)
	}

	const total = 700
	leaves := testLeaves(total)
	reader := StoreNodes{Store: st, Prefix: prefix}
	tr := NewTree()
	rng := rand.New(rand.NewPCG(3, 4))
	n := 0
	for n < 400 {
		k := 1 + rng.IntN(9)
		if n+k > 400 {
			k = 400 - n
		}
		b := st.NewBatch()
		next := tr.Clone()
		for j := range k {
			if err := next.Append(BatchNodes{Batch: b, Prefix: prefix}, leaves[n+j]); err != nil {
				t.Fatal(err)
			}
		}
		if rng.IntN(5) == 0 {
			// Discarded batch: the tree keeps its old state.
			b.Close()
		} else {
			if err := st.Apply(b); err != nil {
				t.Fatal(err)
			}
			tr = next
			n += k
		}
		if tr.Size() != uint64(n) {
			t.Fatalf("size %d, want %d", tr.Size(), n)
		}
		want := qldbhash.MerkleRoot(leaves[:n])
		if got, err := Root(reader, uint64(n)); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Root(%d) from the store = %x, %v, want %x", n, got, err, want)
		}
		if !bytes.Equal(tr.Root(), want) {
			t.Fatalf("Tree.Root() at %d differs", n)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reader = StoreNodes{Store: st, Prefix: prefix}
	tr, err = LoadTree(reader, uint64(n))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTree(reader, uint64(n-1)); err == nil {
		t.Error("LoadTree with a stale size succeeded")
	}
	if got, want := tr.Root(), qldbhash.MerkleRoot(leaves[:n]); !bytes.Equal(got, want) {
		t.Fatalf("reloaded root %x, want %x", got, want)
	}

	// Continue with the free Append: its reads must see the earlier appends
	// of the same uncommitted batch, which an indexed batch provides.
	for n < total {
		k := 1 + rng.IntN(17)
		if n+k > total {
			k = total - n
		}
		b := st.NewIndexedBatch()
		for j := range k {
			err := Append(StoreNodes{Store: b, Prefix: prefix}, BatchNodes{Batch: b, Prefix: prefix}, uint64(n+j), leaves[n+j])
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Apply(b); err != nil {
			t.Fatal(err)
		}
		n += k
	}
	tr, err = LoadTree(reader, total)
	if err != nil {
		t.Fatal(err)
	}
	for size := 1; size <= total; size += 1 + rng.IntN(40) {
		want := qldbhash.MerkleRoot(leaves[:size])
		if got, err := tr.RootAt(reader, uint64(size)); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("RootAt(%d) = %x, %v, want %x", size, got, err, want)
		}
		for range 5 {
			idx := rng.IntN(size)
			proof, err := tr.InclusionProof(reader, uint64(idx), uint64(size))
			if err != nil {
				t.Fatal(err)
			}
			if wantP := qldbhash.AuditPath(leaves[:size], idx); !equalProofs(proof, wantP) {
				t.Fatalf("InclusionProof(%d, %d) from the store differs from AuditPath", idx, size)
			}
		}
	}
	// The neighbouring tree is intact.
	otr2, err := LoadTree(StoreNodes{Store: st, Prefix: other}, 50)
	if err != nil || !bytes.Equal(otr2.Root(), otr.Root()) {
		t.Fatalf("neighbouring tree: %v", err)
	}
}

// benchLeaves is the size of the benchmark tree.
const benchLeaves = 1_000_000

// BenchmarkLedgerTree1M measures the tree over the production store
// (pebblestore, with its 256 MB block cache) at a million leaves. The tree
// is bulk-loaded through the production path (Tree.Append into BatchNodes
// batches), then the memtable is flushed so that reads come from table
// files. reads/op counts GetNode calls that reach the store.
func BenchmarkLedgerTree1M(b *testing.B) {
	db, err := pebblestore.Open(b.TempDir(), pebblestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	prefix := []byte("l/bench/t/")
	tr := NewTree()
	batch := db.NewBatch()
	for i := uint64(0); i < benchLeaves; i++ {
		if err := tr.Append(BatchNodes{Batch: batch, Prefix: prefix}, testLeaf(i)); err != nil {
			b.Fatal(err)
		}
		if i%10_000 == 9_999 || i == benchLeaves-1 {
			if err := db.Apply(batch); err != nil {
				b.Fatal(err)
			}
			batch.Close()
			batch = db.NewBatch()
		}
	}
	batch.Close()
	if err := db.Flush(); err != nil {
		b.Fatal(err)
	}
	reader := StoreNodes{Store: db, Prefix: prefix}
	leaf := testLeaf(benchLeaves)

	b.Run("TreeAppend", func(b *testing.B) {
		// Append into a batch that is never committed: the tree's own cost
		// (hashing and batch writes), without the journal's fsync.
		batch := db.NewBatch()
		defer func() { batch.Close() }()
		base := tr.Clone()
		c := base.Clone()
		b.ResetTimer()
		cpu := processCPU(b)
		for i := 0; i < b.N; i++ {
			if i%1024 == 0 {
				c = base.Clone()
				batch.Close()
				batch = db.NewBatch()
			}
			if err := c.Append(BatchNodes{Batch: batch, Prefix: prefix}, leaf); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
		b.ReportMetric(0, "reads/op")
	})
	b.Run("FreeAppendIndexedBatch", func(b *testing.B) {
		batch := db.NewIndexedBatch()
		defer func() { batch.Close() }()
		cr := &countingReader{r: StoreNodes{Store: batch, Prefix: prefix}}
		w := BatchNodes{Batch: batch, Prefix: prefix}
		n := uint64(benchLeaves)
		b.ResetTimer()
		cpu := processCPU(b)
		for i := 0; i < b.N; i++ {
			if i%1024 == 0 {
				n = benchLeaves
				batch.Close()
				batch = db.NewIndexedBatch()
				cr.r, w.Batch = StoreNodes{Store: batch, Prefix: prefix}, batch
			}
			if err := Append(cr, w, n, leaf); err != nil {
				b.Fatal(err)
			}
			n++
		}
		reportCPU(b, cpu)
		b.ReportMetric(float64(cr.reads)/float64(b.N), "reads/op")
	})
	b.Run("GetNodeRandomLeaf", func(b *testing.B) {
		// The cost of one read, for scale.
		rng := rand.New(rand.NewPCG(11, 12))
		cpu := processCPU(b)
		for i := 0; i < b.N; i++ {
			if _, ok, err := reader.GetNode(0, rng.Uint64N(benchLeaves)); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
		reportCPU(b, cpu)
		b.ReportMetric(1, "reads/op")
	})
	b.Run("RootTip", func(b *testing.B) {
		cpu := processCPU(b)
		for i := 0; i < b.N; i++ {
			tr.Root()
		}
		reportCPU(b, cpu)
		b.ReportMetric(0, "reads/op")
	})
	b.Run("RootPastTip", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(5, 6))
		cr := &countingReader{r: reader}
		cpu := processCPU(b)
		for i := 0; i < b.N; i++ {
			if _, err := Root(cr, 1+rng.Uint64N(benchLeaves)); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
		b.ReportMetric(float64(cr.reads)/float64(b.N), "reads/op")
	})
	b.Run("InclusionProofTip", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(7, 8))
		cr := &countingReader{r: reader}
		cpu := processCPU(b)
		for i := 0; i < b.N; i++ {
			if _, err := tr.InclusionProof(cr, rng.Uint64N(benchLeaves), benchLeaves); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
		b.ReportMetric(float64(cr.reads)/float64(b.N), "reads/op")
	})
	b.Run("InclusionProofPastTip", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(9, 10))
		cr := &countingReader{r: reader}
		cpu := processCPU(b)
		for i := 0; i < b.N; i++ {
			size := 1 + rng.Uint64N(benchLeaves)
			if _, err := InclusionProof(cr, rng.Uint64N(size), size); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
		b.ReportMetric(float64(cr.reads)/float64(b.N), "reads/op")
	})
}

// processCPU returns the user+system CPU time the process has used. The
// benchmarks report it per op (cpu-ns/op) because wall time on a shared
// machine mostly measures waiting for a CPU.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time used since start per op.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
}
