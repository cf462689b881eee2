package journal

import (
	"bytes"
	"testing"

	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/store/memstore"
)

// TestCachedNodesProveTheSame grows a tree and, at several sizes, checks
// that every inclusion proof and root read through the node cache (cold,
// then warm) is byte-identical to the one read from the store alone, and
// that a warm cache reads only nodes below cacheMinLevel from the store.
func TestCachedNodesProveTheSame(t *testing.T) {
	st := memstore.New(t.TempDir())
	prefix := []byte("l/x/m/")
	leaves := testLeaves(1100)
	tr := NewTree()
	var cache nodeCache
	plain := StoreNodes{Store: st, Prefix: prefix}
	for n := 0; n < len(leaves); {
		b := st.NewBatch()
		step := 1 + n/7
		for j := 0; j < step && n < len(leaves); j++ {
			if err := tr.Append(BatchNodes{Batch: b, Prefix: prefix}, leaves[n]); err != nil {
				t.Fatal(err)
			}
			n++
		}
		if err := st.Apply(b); err != nil {
			t.Fatal(err)
		}
		size := tr.Size()
		for pass := 0; pass < 2; pass++ {
			counted := &countingReader{r: plain}
			cached := cachedNodes{cache: &cache, store: StoreNodes{Store: countingStore{st, counted}, Prefix: prefix}, size: size}
			for tip := uint64(1); tip <= size; tip += 1 + tip/3 {
				for i := uint64(0); i < tip; i += 1 + i/5 {
					want, err := InclusionProof(plain, i, tip)
					if err != nil {
						t.Fatal(err)
					}
					got, err := tr.InclusionProof(cached, i, tip)
					if err != nil || !equalProofs(got, want) {
						t.Fatalf("size %d, leaf %d, tip %d: cached proof %x, %v; want %x", size, i, tip, got, err, want)
					}
				}
				want, _ := Root(plain, tip)
				if got, err := tr.RootAt(cached, tip); err != nil || !bytes.Equal(got, want) {
					t.Fatalf("size %d: root at %d through the cache %x, %v; want %x", size, tip, got, err, want)
				}
			}
		}
	}
	// Warm: a proof reads from the store only the nodes below
	// cacheMinLevel: siblings, and the pieces of the tip's partial subtree.
	counted := &countingReader{r: plain}
	cached := cachedNodes{cache: &cache, store: StoreNodes{Store: countingStore{st, counted}, Prefix: prefix}, size: tr.Size()}
	if _, err := tr.InclusionProof(cached, 517, tr.Size()); err != nil {
		t.Fatal(err)
	}
	if counted.reads > 2*cacheMinLevel {
		t.Errorf("a warm proof read %d nodes from the store, want at most %d", counted.reads, 2*cacheMinLevel)
	}
}

// TestNodeCacheBound checks the memory bound: nodes of levels below
// cacheMinLevel, incomplete nodes and levels with more than
// cacheMaxLevelNodes complete nodes are not kept, and a level that grows
// past the bound is dropped.
func TestNodeCacheBound(t *testing.T) {
	var c nodeCache
	h := qldbhash.HashString("x")
	c.put(cacheMinLevel-1, 0, 1<<10, h)
	c.put(cacheMinLevel, 64, 1<<10, h) // index 64 of level 4 needs 1,040 leaves
	c.put(cacheMinLevel, 3, 1<<10, h)
	if c.levels[cacheMinLevel-1] != nil {
		t.Error("a node below cacheMinLevel was kept")
	}
	if got, ok := c.get(cacheMinLevel, 3, 1<<10); !ok || !bytes.Equal(got, h) {
		t.Errorf("get = %x, %v; want %x", got, ok, h)
	}
	if _, ok := c.get(cacheMinLevel, 64, 1<<10); ok {
		t.Error("an incomplete node was kept")
	}
	big := uint64(cacheMaxLevelNodes+1) << cacheMinLevel
	if _, ok := c.get(cacheMinLevel, 3, big); ok {
		t.Error("a node of a level past the bound was served")
	}
	c.put(cacheMinLevel+1, 0, big, h)
	if c.levels[cacheMinLevel] != nil {
		t.Error("a level past the bound was not dropped")
	}
	if _, ok := c.get(cacheMinLevel+1, 0, big); !ok {
		t.Error("a node of a level within the bound was not kept")
	}
}

// countingStore is a store.Reader whose Gets of tree nodes count in c.
type countingStore struct {
	*memstore.Store
	c *countingReader
}

func (s countingStore) Get(key []byte) ([]byte, bool, error) {
	s.c.reads++
	return s.Store.Get(key)
}
