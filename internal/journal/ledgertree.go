package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/store"
)

// The ledger Merkle tree (reference §3.5–3.6) has the ledger's block hashes
// as leaves, leaf index = sequenceNo. Its shape is QLDB's pairwise-with-
// promotion tree (qldbhash.MerkleRoot), which for any size equals the
// RFC 6962 tree: level k node i covers leaves [i·2^k, (i+1)·2^k) and is
// Dot(level k-1 node 2i, level k-1 node 2i+1).
//
// Storage keeps only complete nodes, the classic append-only layout: a node
// is stored once its 2^k leaves all exist and never changes afterwards, so
// one tree serves every past tip. A tree of n leaves stores 2n - popcount(n)
// nodes. For a tip of size n, the tree's root is the Dot-fold, from the right,
// of the perfect subtrees in n's binary decomposition; a node whose range
// runs past the tip (at most one per level, and at most one on any proof
// path) is computed the same way from the perfect subtrees that make it up.
// Root and InclusionProof therefore read O(log n) stored nodes for any tip:
// popcount(size) for Root, and at most one node per level plus
// popcount(size) for InclusionProof.

// MaxTreeSize is the largest number of leaves a ledger tree may hold.
const MaxTreeSize = 1 << 62

// ErrTreeNodeMissing is returned (wrapped) when a node the requested tip
// needs is not in storage: the tip is beyond the stored tree, or the storage
// lost or never received the write.
var ErrTreeNodeMissing = errors.New("journal: ledger tree node is missing")

// ErrTreeRange is returned (wrapped) for a leaf index that is not below the
// tip size, or a tip beyond the tree's size.
var ErrTreeRange = errors.New("journal: ledger tree index out of range")

// TreeReader reads stored ledger tree nodes. GetNode returns the hash of the
// complete node at level (0 = leaves) and index, and false when that node is
// not stored. Implementations must return a slice the caller may keep (but
// the tree never modifies it). A nil error with false means "not stored";
// any error aborts the operation and is returned wrapped.
type TreeReader interface {
	GetNode(level uint8, index uint64) ([]byte, bool, error)
}

// TreeWriter receives the node writes of an append, typically adding them to
// a caller's write batch. SetNode must copy hash if it keeps it. Writes are
// idempotent: a node is only ever written with the same value.
type TreeWriter interface {
	SetNode(level uint8, index uint64, hash []byte) error
}

// Tree is the in-memory state of an append-only ledger tree: its size and its
// right frontier, the roots of the perfect subtrees in the binary
// decomposition of the size (one per set bit, at most 62). It needs no
// storage reads to append or to compute the root at its own size, so appends
// work when earlier appends are still in the same uncommitted batch.
//
// A Tree is not safe for concurrent use; the journal writer owns it. Its hash
// slices are never modified in place, so a plain copy (Clone) is an
// independent Tree: to keep the in-memory tree in step with storage when a
// batch may fail to commit, append to a clone and adopt it only after the
// commit succeeds (or reload with LoadTree).
type Tree struct {
	size     uint64
	frontier [64][]byte // frontier[k] is set iff bit k of size is set
}

// NewTree returns an empty tree (size 0).
func NewTree() *Tree { return &Tree{} }

// LoadTree rebuilds the in-memory state of a stored tree of size leaves,
// reading popcount(size) frontier nodes and checking that the tree holds no
// leaf at index size. size normally comes from the journal (number of
// committed blocks), which is written in the same batches as the tree.
func LoadTree(r TreeReader, size uint64) (*Tree, error) {
	if size > MaxTreeSize {
		return nil, fmt.Errorf("%w: size %d exceeds the maximum %d", ErrTreeRange, size, uint64(MaxTreeSize))
	}
	t := &Tree{size: size}
	for k := 0; k < 64; k++ {
		if size&(1<<k) == 0 {
			continue
		}
		h, err := getNode(r, uint8(k), (size>>k)-1)
		if err != nil {
			return nil, fmt.Errorf("journal: load ledger tree of size %d: %w", size, err)
		}
		t.frontier[k] = h
	}
	if size < MaxTreeSize {
		if _, ok, err := r.GetNode(0, size); err != nil {
			return nil, fmt.Errorf("journal: load ledger tree of size %d: read leaf %d: %w", size, size, err)
		} else if ok {
			return nil, fmt.Errorf("journal: load ledger tree of size %d: leaf %d is stored, the tree is larger", size, size)
		}
	}
	return t, nil
}

// Size returns the number of leaves.
func (t *Tree) Size() uint64 { return t.size }

// Clone returns an independent copy of t.
func (t *Tree) Clone() *Tree {
	c := *t
	return &c
}

// Append adds leaf (a 32-byte block hash) as leaf number Size() and writes it
// and every node it completes to w: the leaf at (0, n), then (k+1, n>>(k+1))
// for each k where bit k of n is set, stopping at the first clear bit. It
// reads nothing. On error t is unchanged, but w may have received some of the
// writes: discard the batch.
func (t *Tree) Append(w TreeWriter, leaf []byte) error {
	if err := qldbhash.CheckHash(leaf); err != nil {
		return fmt.Errorf("journal: append to ledger tree: %w", err)
	}
	n := t.size
	if n >= MaxTreeSize {
		return fmt.Errorf("journal: append to ledger tree: tree is full (%d leaves)", n)
	}
	h := bytes.Clone(leaf)
	if err := w.SetNode(0, n, h); err != nil {
		return fmt.Errorf("journal: append leaf %d: %w", n, err)
	}
	k := 0
	for ; n&(1<<k) != 0; k++ {
		h = qldbhash.Dot(t.frontier[k], h)
		if err := w.SetNode(uint8(k+1), n>>(k+1), h); err != nil {
			return fmt.Errorf("journal: append leaf %d: write node (%d, %d): %w", n, k+1, n>>(k+1), err)
		}
	}
	// Every write succeeded: bits 0..k-1 of n clear, bit k becomes set.
	for j := 0; j < k; j++ {
		t.frontier[j] = nil
	}
	t.frontier[k] = h
	t.size = n + 1
	return nil
}

// Root returns the root at the tree's own size (the current ledger digest)
// without reading storage; nil for an empty tree. The result is a fresh copy.
func (t *Tree) Root() []byte {
	var acc []byte
	for k := 0; k < 64; k++ {
		if t.frontier[k] != nil {
			acc = qldbhash.Dot(t.frontier[k], acc)
		}
	}
	return bytes.Clone(acc)
}

// RootAt returns the root of the first size leaves (the digest at a past or
// the current tip), as Root(r, size) does, reading through r only for nodes
// that are not on t's frontier. It fails with ErrTreeRange when size exceeds
// Size().
func (t *Tree) RootAt(r TreeReader, size uint64) ([]byte, error) {
	if size > t.size {
		return nil, fmt.Errorf("%w: tip size %d exceeds the tree size %d", ErrTreeRange, size, t.size)
	}
	if size == t.size {
		return t.Root(), nil
	}
	return Root(frontierReader{t, r}, size)
}

// InclusionProof returns the proof of leaf index under the tip of size
// leaves, as InclusionProof(r, index, size) does, reading through r only for
// nodes that are not on t's frontier. It fails with ErrTreeRange when size
// exceeds Size() or index >= size.
func (t *Tree) InclusionProof(r TreeReader, index, size uint64) ([][]byte, error) {
	if size > t.size {
		return nil, fmt.Errorf("%w: tip size %d exceeds the tree size %d", ErrTreeRange, size, t.size)
	}
	return InclusionProof(frontierReader{t, r}, index, size)
}

// frontierReader answers frontier nodes from memory and the rest from r.
type frontierReader struct {
	t *Tree
	r TreeReader
}

func (f frontierReader) GetNode(level uint8, index uint64) ([]byte, bool, error) {
	if level < 64 && f.t.frontier[level] != nil && index == (f.t.size>>level)-1 {
		return f.t.frontier[level], true, nil
	}
	return f.r.GetNode(level, index)
}

// Append adds leaf as leaf number n of the tree stored behind r and w (n is
// the current size) and writes the leaf and every node it completes to w. It
// reads the left siblings it combines with, one per trailing set bit of n
// (amortised one read per append), so r must see the writes of earlier
// appends even when they are still in an uncommitted batch: pass a reader
// over the batch and the committed state (StoreNodes over an indexed
// batch). Prefer a Tree, which needs no reads.
func Append(r TreeReader, w TreeWriter, n uint64, leaf []byte) error {
	if err := qldbhash.CheckHash(leaf); err != nil {
		return fmt.Errorf("journal: append to ledger tree: %w", err)
	}
	if n >= MaxTreeSize {
		return fmt.Errorf("journal: append to ledger tree: tree is full (%d leaves)", n)
	}
	h := leaf
	if err := w.SetNode(0, n, h); err != nil {
		return fmt.Errorf("journal: append leaf %d: %w", n, err)
	}
	for k := 0; n&(1<<k) != 0; k++ {
		left, err := getNode(r, uint8(k), (n>>k)-1)
		if err != nil {
			return fmt.Errorf("journal: append leaf %d: %w", n, err)
		}
		h = qldbhash.Dot(left, h)
		if err := w.SetNode(uint8(k+1), n>>(k+1), h); err != nil {
			return fmt.Errorf("journal: append leaf %d: write node (%d, %d): %w", n, k+1, n>>(k+1), err)
		}
	}
	return nil
}

// Root returns the root of the first size leaves of the stored tree: the
// ledger digest at the tip with sequenceNo size-1. It equals
// qldbhash.MerkleRoot over those leaves and reads popcount(size) nodes. The
// root of an empty tree is nil, as for MerkleRoot. It fails with an error
// wrapping ErrTreeNodeMissing when size exceeds the stored tree.
func Root(r TreeReader, size uint64) ([]byte, error) {
	if size > MaxTreeSize {
		return nil, fmt.Errorf("%w: tip size %d exceeds the maximum %d", ErrTreeRange, size, uint64(MaxTreeSize))
	}
	if size == 0 {
		return nil, nil
	}
	h, err := rangeRoot(r, 0, size)
	if err != nil {
		return nil, fmt.Errorf("journal: ledger tree root at size %d: %w", size, err)
	}
	return bytes.Clone(h), nil
}

// InclusionProof returns the proof that leaf index is in the tree of the
// first size leaves: the sibling hashes from the leaf up, skipping levels
// where the node is promoted without a sibling, so that
// qldbhash.Fold(leaf, proof) == Root(r, size). It equals qldbhash.AuditPath
// over the first size leaves (empty for size 1). It reads at most one node
// per level plus popcount(size) nodes for the one sibling that may run past
// the tip. It fails with ErrTreeRange when index >= size, and with
// ErrTreeNodeMissing when size exceeds the stored tree.
func InclusionProof(r TreeReader, index, size uint64) ([][]byte, error) {
	if size > MaxTreeSize {
		return nil, fmt.Errorf("%w: tip size %d exceeds the maximum %d", ErrTreeRange, size, uint64(MaxTreeSize))
	}
	if index >= size {
		return nil, fmt.Errorf("%w: leaf %d is not below the tip size %d", ErrTreeRange, index, size)
	}
	proof := make([][]byte, 0, bits.Len64(size-1))
	// Level k has ceil(size/2^k) nodes; there is a sibling to add while it
	// has more than one, i.e. while size > 2^k.
	for k := 0; (size-1)>>k != 0; k++ {
		sib := (index >> k) ^ 1
		start := sib << k
		if start >= size {
			continue // the node is promoted: no sibling at this level
		}
		var h []byte
		var err error
		if end := start + 1<<k; end <= size {
			h, err = getNode(r, uint8(k), sib)
		} else {
			h, err = rangeRoot(r, start, size)
		}
		if err != nil {
			return nil, fmt.Errorf("journal: ledger tree proof of leaf %d at size %d: %w", index, size, err)
		}
		proof = append(proof, bytes.Clone(h))
	}
	return proof, nil
}

// rangeRoot returns the root of the (possibly incomplete) node covering leaves
// [start, end), where start is a multiple of the largest power of two not
// above end-start: the Dot-fold from the right of the perfect subtrees in the
// binary decomposition of end-start. It reads popcount(end-start) nodes.
func rangeRoot(r TreeReader, start, end uint64) ([]byte, error) {
	var parts [64][]byte
	np := 0
	m := end - start
	off := start
	for k := 63; k >= 0; k-- {
		if m&(1<<k) == 0 {
			continue
		}
		h, err := getNode(r, uint8(k), off>>k)
		if err != nil {
			return nil, err
		}
		parts[np] = h
		np++
		off += 1 << k
	}
	acc := parts[np-1]
	for i := np - 2; i >= 0; i-- {
		acc = qldbhash.Dot(parts[i], acc)
	}
	return acc, nil
}

// getNode reads a node that must exist and be a well-formed hash.
func getNode(r TreeReader, level uint8, index uint64) ([]byte, error) {
	h, ok, err := r.GetNode(level, index)
	if err != nil {
		return nil, fmt.Errorf("journal: read ledger tree node (%d, %d): %w", level, index, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: level %d index %d", ErrTreeNodeMissing, level, index)
	}
	if err := qldbhash.CheckHash(h); err != nil {
		return nil, fmt.Errorf("journal: ledger tree node (%d, %d) is corrupt: %w", level, index, err)
	}
	return h, nil
}

// NodeKey returns the storage key of node (level, index) under prefix:
// prefix + level (1 byte) + index (8 bytes, big-endian). Keys of one level
// sort by index, and the levels do not interleave. The prefix is copied.
func NodeKey(prefix []byte, level uint8, index uint64) []byte {
	k := make([]byte, len(prefix)+9)
	copy(k, prefix)
	k[len(prefix)] = level
	binary.BigEndian.PutUint64(k[len(prefix)+1:], index)
	return k
}

// StoreNodes is a TreeReader over storage, with node keys made by
// NodeKey(Prefix, ...). Over a store.Store it reads committed nodes; over a
// store.IndexedBatch it sees the batch's uncommitted writes as well.
type StoreNodes struct {
	Store  store.Reader
	Prefix []byte
}

// GetNode implements TreeReader; the returned hash is a copy.
func (s StoreNodes) GetNode(level uint8, index uint64) ([]byte, bool, error) {
	return s.Store.Get(NodeKey(s.Prefix, level, index))
}

// BatchNodes is a TreeWriter that adds node writes to a store batch (any
// store.Writer, normally from Store.NewBatch or NewIndexedBatch) under
// NodeKey(Prefix, ...). The caller commits it, together with the block,
// with Store.Apply.
type BatchNodes struct {
	Batch  store.Writer
	Prefix []byte
}

// SetNode implements TreeWriter.
func (b BatchNodes) SetNode(level uint8, index uint64, hash []byte) error {
	return b.Batch.Set(NodeKey(b.Prefix, level, index), hash)
}
