package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math"
	"math/bits"
	"sync"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/store"
)

// revIndex remembers every document revision of the journal compactly, so
// that the stored copies (h/, d/, r/) can be matched against their blocks
// without reading the blocks again: 64 bytes per revision, plus 8 to 16
// bytes of the (document, version) table.
type revIndex struct {
	seed  maphash.Seed
	start []uint64 // start[seq]: index in revs of block seq's first revision
	revs  []revEntry
	// seen marks revisions matched by a history (h/) entry, and byBlock
	// those matched by a revision-block (r/) entry.
	seen, byBlock bitset
	// byDoc is an open-addressing table of 1 + the positions in revs,
	// hashed by document and version (see lookup); built by finish.
	byDoc []uint32
}

type revEntry struct {
	doc     uint64 // maphash of the document id
	table   uint64 // maphash of the table id
	version uint64
	hash    [16]byte // the revision hash's first 128 bits
	// enc is the first 128 bits of the SHA-256 of the revision's
	// committed-view encoding (journal.EncodeRevision at its block's
	// address): the exact bytes its h/ entry holds (see matchStored).
	enc  [16]byte
	live bool // the revision has data (not a deleted document's)
}

func newRevIndex() *revIndex { return &revIndex{seed: maphash.MakeSeed()} }

func (x *revIndex) fp(s string) uint64 { return maphash.String(x.seed, s) }

// reserve sizes the index for a journal of blocks blocks of about one
// revision each, so that growing it does not copy it again and again
// (appends past that still work).
func (x *revIndex) reserve(blocks uint64) {
	const max = 1 << 30 // a damaged count must not allocate without bound
	n := int(min(blocks, max))
	x.start = make([]uint64, 0, n+1)
	x.revs = make([]revEntry, 0, n)
}

// add records the document revisions of the next block, in block order.
func (x *revIndex) add(revs []revEntry) {
	x.start = append(x.start, uint64(len(x.revs)))
	x.revs = append(x.revs, revs...)
}

// entries returns the revEntries of a block's document revisions (system
// revisions carry no document and are left out). The block must have
// passed journal.VerifyBlock.
func (x *revIndex) entries(b *journal.Block) []revEntry {
	var out []revEntry
	for _, r := range b.Revisions {
		if r.IsSystem() {
			continue
		}
		e := revEntry{doc: x.fp(r.Metadata.ID), table: x.fp(r.TableID), version: r.Metadata.Version, live: r.Data != nil}
		copy(e.hash[:], r.Hash)
		buf := encBuffers.Get().(*[]byte)
		if enc, err := journal.AppendRevision((*buf)[:0], r, b.Address); err == nil {
			sum := sha256.Sum256(enc)
			copy(e.enc[:], sum[:])
			if cap(enc) <= 1<<16 {
				*buf = enc
			}
		} // else enc stays zero, which no stored entry matches: the h/ entry takes the full check
		encBuffers.Put(buf)
		out = append(out, e)
	}
	return out
}

// encBuffers hold the committed-view encodings entries hashes.
var encBuffers = sync.Pool{New: func() any { return new([]byte) }}

// finish closes the index after the last block and builds the (document,
// version) table.
func (x *revIndex) finish() {
	x.start = append(x.start, uint64(len(x.revs)))
	x.seen = newBitset(len(x.revs))
	x.byBlock = newBitset(len(x.revs))
	if len(x.revs) >= math.MaxUint32 {
		return // no table: every h/ entry takes the full check
	}
	size := 1 << bits.Len(uint(2*len(x.revs)))
	x.byDoc = make([]uint32, size)
	mask := uint64(size - 1)
	for i := range x.revs {
		e := &x.revs[i]
		for j := docSlot(e.doc, e.version) & mask; ; j = (j + 1) & mask {
			if x.byDoc[j] == 0 {
				x.byDoc[j] = uint32(i) + 1
				break
			}
		}
	}
}

// docSlot mixes a document fingerprint and a version into a table slot.
func docSlot(doc, version uint64) uint64 {
	h := doc ^ (version * 0x9E3779B97F4A7C15)
	h ^= h >> 29
	return h * 0xBF58476D1CE4E5B9
}

// matchStored reports whether val, the value of the h/ entry of document
// doc version version in table table, is byte for byte the committed-view
// encoding of that revision as its block holds it (compared through enc),
// and returns the revision's position. Such an entry passes every check
// checkStored makes: it decodes to that revision (same document, version,
// data, metadata and hash, which the journal phase verified), at its
// block's address and strand. Any other entry (false) takes the full check.
func (x *revIndex) matchStored(table, doc string, version uint64, val []byte) (int, bool) {
	if len(x.byDoc) == 0 {
		return 0, false
	}
	fp := x.fp(doc)
	mask := uint64(len(x.byDoc) - 1)
	for j := docSlot(fp, version) & mask; x.byDoc[j] != 0; j = (j + 1) & mask {
		i := int(x.byDoc[j] - 1)
		e := &x.revs[i]
		if e.doc != fp || e.version != version {
			continue
		}
		sum := sha256.Sum256(val)
		return i, [16]byte(sum[:16]) == e.enc && e.table == x.fp(table)
	}
	return 0, false
}

// blocks returns the number of indexed blocks.
func (x *revIndex) blocks() uint64 { return uint64(len(x.start) - 1) }

// find returns the position of document doc's revision version in block
// seq, or false.
func (x *revIndex) find(seq uint64, doc string, version uint64) (int, bool) {
	if seq >= x.blocks() {
		return 0, false
	}
	fp := x.fp(doc)
	for i := x.start[seq]; i < x.start[seq+1]; i++ {
		if e := &x.revs[i]; e.doc == fp && e.version == version {
			return int(i), true
		}
	}
	return 0, false
}

// blockOf returns the block holding revision i.
func (x *revIndex) blockOf(i int) uint64 {
	lo, hi := 0, len(x.start)-1 // start[lo] <= i < start[hi]
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if x.start[mid] <= uint64(i) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return uint64(lo)
}

type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

// set sets bit i and reports whether it was already set.
func (b bitset) set(i int) bool {
	w, m := i/64, uint64(1)<<(i%64)
	was := b[w]&m != 0
	b[w] |= m
	return was
}

// firstClear returns the first clear bit below n, or -1.
func (b bitset) firstClear(n int) int {
	for w, v := range b {
		if v != ^uint64(0) {
			if j := w*64 + bits.TrailingZeros64(^v); j < n {
				return j
			}
			return -1
		}
	}
	return -1
}

// treeChecker is a journal.TreeWriter that, instead of writing, compares
// every node the in-memory tree produces with the stored node, reading each
// level of the stored tree with its own iterator in index order (appends
// produce each level's nodes in increasing index order, and storage keeps
// exactly the complete nodes). Memory is O(levels).
type treeChecker struct {
	view   store.Reader
	prefix []byte
	its    []store.Iterator
	key    []byte // scratch for the key of the node compared
}

// level returns the iterator of a level, positioned on its first node.
func (c *treeChecker) level(l uint8) (store.Iterator, error) {
	for len(c.its) <= int(l) {
		lvl := uint8(len(c.its))
		lo := journal.NodeKey(c.prefix, lvl, 0)
		hi := append(bytes.Clone(c.prefix), lvl+1)
		it, err := c.view.NewIter(lo, hi)
		if err != nil {
			return nil, fmt.Errorf("verify: read ledger tree: %w", err)
		}
		it.First()
		c.its = append(c.its, it)
	}
	return c.its[l], nil
}

// errTree marks a mismatch between the stored and the recomputed tree.
type errTree struct{ msg string }

func (e *errTree) Error() string { return e.msg }

// SetNode implements journal.TreeWriter by comparison.
func (c *treeChecker) SetNode(level uint8, index uint64, hash []byte) error {
	it, err := c.level(level)
	if err != nil {
		return err
	}
	// journal.NodeKey's layout, built in reused memory.
	c.key = append(append(c.key[:0], c.prefix...), level)
	c.key = binary.BigEndian.AppendUint64(c.key, index)
	want := c.key
	if !it.Valid() {
		if err := it.Error(); err != nil {
			return fmt.Errorf("verify: read ledger tree: %w", err)
		}
		return &errTree{fmt.Sprintf("ledger tree node (level %d, index %d) is missing", level, index)}
	}
	switch k := it.Key(); bytes.Compare(k, want) {
	case 1:
		return &errTree{fmt.Sprintf("ledger tree node (level %d, index %d) is missing", level, index)}
	case -1:
		return &errTree{fmt.Sprintf("ledger tree holds an unexpected node %x at level %d before index %d", k[len(c.prefix):], level, index)}
	}
	v, err := it.Value()
	if err != nil {
		return fmt.Errorf("verify: read ledger tree: %w", err)
	}
	if !bytes.Equal(v, hash) {
		return &errTree{fmt.Sprintf("ledger tree node (level %d, index %d) is %x, recomputed from the block hashes %x", level, index, v, hash)}
	}
	it.Next()
	return nil
}

// finish checks that storage holds no node beyond those compared: at any
// used level past the last compared node, or at a level never used.
func (c *treeChecker) finish() error {
	for l, it := range c.its {
		if it.Valid() {
			return &errTree{fmt.Sprintf("ledger tree holds node %x at level %d beyond the journal", it.Key()[len(c.prefix):], l)}
		}
		if err := it.Error(); err != nil {
			return fmt.Errorf("verify: read ledger tree: %w", err)
		}
	}
	if len(c.its) > 255 {
		return nil
	}
	lo := append(bytes.Clone(c.prefix), byte(len(c.its)))
	it, err := c.view.NewIter(lo, store.PrefixEnd(c.prefix))
	if err != nil {
		return fmt.Errorf("verify: read ledger tree: %w", err)
	}
	defer it.Close()
	if it.First() {
		return &errTree{fmt.Sprintf("ledger tree holds node %x beyond the journal", it.Key()[len(c.prefix):])}
	}
	return it.Error()
}

func (c *treeChecker) close() {
	for _, it := range c.its {
		it.Close()
	}
	c.its = nil
}
