package journal

import (
	"sync"

	"github.com/strand-db/strand/internal/qldbhash"
)

// The upper levels of a ledger's Merkle tree in memory. A proof (GetBlock
// or GetRevision with a digest tip, GetDigest at an older tip) reads one
// node per level, about log2(blocks) point reads from the store: 20 at a
// million blocks. A complete node never changes once its block is durable
// (the tree only grows, and only the offline repair rewrites m/), so the
// nodes a proof reads at the upper levels are kept after the first read,
// and a proof at a million blocks reads only its lowest levels from the
// store.
//
// Bound: levels below cacheMinLevel are never kept (they are most of the
// tree: half the nodes are leaves), and a level is kept only while it has
// at most cacheMaxLevelNodes complete nodes, so the cache holds at most
// about 2 × cacheMaxLevelNodes nodes (33 bytes each) per ledger. At a
// million blocks it keeps levels 4 and up: at most 125,000 nodes, about
// 4 MiB; past 4 million blocks the lowest kept level rises with the tree.

const (
	cacheMinLevel      = 4
	cacheMaxLevelNodes = 1 << 18
)

// nodeCache holds the complete upper nodes read so far. Safe for
// concurrent use.
type nodeCache struct {
	mu     sync.RWMutex
	levels [64][]cachedNode // levels[k][i] is node (k, i) when set
}

type cachedNode struct {
	hash [qldbhash.Size]byte
	set  bool
}

// keeps reports whether node (level, index) of a tree of size leaves is
// kept: a complete node of a level that is cached at that size.
func keeps(level uint8, index, size uint64) bool {
	if level < cacheMinLevel || level >= 64 {
		return false
	}
	complete := size >> level
	return complete <= cacheMaxLevelNodes && index < complete
}

// get returns a copy of node (level, index), if kept.
func (c *nodeCache) get(level uint8, index, size uint64) ([]byte, bool) {
	if !keeps(level, index, size) {
		return nil, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	l := c.levels[level]
	if index >= uint64(len(l)) || !l[index].set {
		return nil, false
	}
	h := l[index].hash
	return h[:], true
}

// put keeps node (level, index) when its level is cached at size, and
// drops the levels too large to keep any more.
func (c *nodeCache) put(level uint8, index, size uint64, hash []byte) {
	if len(hash) != qldbhash.Size {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := cacheMinLevel; k < 64 && c.levels[k] != nil && size>>k > cacheMaxLevelNodes; k++ {
		c.levels[k] = nil
	}
	if !keeps(level, index, size) {
		return
	}
	l := c.levels[level]
	if index >= uint64(len(l)) {
		n := max(2*uint64(len(l)), index+1, 64)
		n = min(n, size>>level)
		grown := make([]cachedNode, n)
		copy(grown, l)
		l = grown
		c.levels[level] = l
	}
	l[index] = cachedNode{set: true}
	copy(l[index].hash[:], hash)
}

// cachedNodes is a TreeReader over the store that answers the kept upper
// nodes of a tree of size leaves from the cache, and keeps those it reads.
type cachedNodes struct {
	cache *nodeCache
	store StoreNodes
	size  uint64
}

// GetNode implements TreeReader; the returned hash is a copy.
func (n cachedNodes) GetNode(level uint8, index uint64) ([]byte, bool, error) {
	if h, ok := n.cache.get(level, index, n.size); ok {
		return h, true, nil
	}
	h, ok, err := n.store.GetNode(level, index)
	if err == nil && ok {
		n.cache.put(level, index, n.size, h)
	}
	return h, ok, err
}
