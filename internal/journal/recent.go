package journal

import (
	"sync"
	"sync/atomic"
)

// Recently committed blocks in memory.
//
// Publish hands every block of a committed group, as the committer built
// it (already sealed and encoded into the group's batch), to the Log's
// recent-block buffer before it wakes the readers (Changed). A stream
// worker that is caught up finds the blocks it needs there (Recent) and
// neither reads them back from the store nor decodes them; one that fell
// behind (the buffer dropped the block: overflow, a restart, a backfill)
// gets a miss and reads the store as before. The store stays the source
// of truth: the buffer holds only published blocks, each exactly as it was
// written, and a redaction drops the rewritten block from it, so that a
// later reader gets the redacted block from the store.
//
// The buffer is bounded by a number of blocks and by the memory the blocks
// it holds take (approxMemory: a block in memory is several times its
// encoded size, about 5 times for 40 small documents, so a bound on
// encoded bytes let the buffer hold far more than it said); whichever
// bound is reached first drops the oldest.
// It keeps nothing until the first Recent call: a ledger without a stream
// pays no memory for it.

// Default bounds of the recent-block buffer of every Log (see
// SetRecentLimit): DefaultRecentBytes is of memory, as approxMemory
// estimates it (about 340 blocks of 40 small documents).
const (
	DefaultRecentBlocks = 4096
	DefaultRecentBytes  = 16 << 20
)

// recentBlocks is a bounded FIFO of the newest published blocks, by
// sequence number: it holds blocks [first, first+len(blocks)), with gaps
// (nil) where a block was dropped by a redaction.
type recentBlocks struct {
	used atomic.Bool // set by the first lookup; nothing is kept before

	mu        sync.RWMutex
	first     uint64
	blocks    []*Block
	sizes     []int
	bytes     int
	maxBlocks int
	maxBytes  int
}

// SetRecentLimit bounds l's recent-block buffer to at most blocks blocks
// taking at most bytes bytes of memory (defaults DefaultRecentBlocks and
// DefaultRecentBytes); blocks <= 0 turns the buffer off. It may be called
// at any time; blocks beyond the new bounds are dropped.
func (l *Log) SetRecentLimit(blocks, bytes int) {
	r := &l.recent
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maxBlocks, r.maxBytes = max(blocks, 0), bytes
	r.trim()
}

// Recent returns block seq if it is among the newest published blocks kept
// in memory, or false (read it with Block). The block is shared with every
// other reader and must not be modified. The first call turns the buffer
// on (blocks published before it are not kept).
func (l *Log) Recent(seq uint64) (*Block, bool) {
	r := &l.recent
	if !r.used.Load() {
		r.used.Store(true)
		return nil, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if seq < r.first || seq-r.first >= uint64(len(r.blocks)) {
		return nil, false
	}
	b := r.blocks[seq-r.first]
	return b, b != nil
}

// add keeps the blocks of a published group (charging each its
// approxMemory) and drops the blocks that redacted names, whose stored
// copy the group rewrote.
func (r *recentBlocks) add(blocks []*Block, redacted []uint64) {
	if !r.used.Load() {
		return
	}
	sizes := make([]int, len(blocks))
	for i, b := range blocks {
		sizes[i] = approxMemory(b)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.maxBlocks > 0 && len(blocks) > 0 {
		if len(r.blocks) > 0 && blocks[0].Address.SequenceNo != r.first+uint64(len(r.blocks)) {
			r.clear() // not contiguous (cannot happen with one writer): start over
		}
		if len(r.blocks) == 0 {
			r.first = blocks[0].Address.SequenceNo
		}
		for i, b := range blocks {
			r.blocks = append(r.blocks, b)
			r.sizes = append(r.sizes, sizes[i])
			r.bytes += sizes[i]
		}
	}
	// After the group's own blocks: a redaction may target a block of the
	// same group, whose in-memory copy is the unredacted one.
	for _, seq := range redacted {
		if seq >= r.first && seq-r.first < uint64(len(r.blocks)) && r.blocks[seq-r.first] != nil {
			i := seq - r.first
			r.blocks[i] = nil
			r.bytes -= r.sizes[i]
			r.sizes[i] = 0
		}
	}
	r.trim()
}

// trim drops the oldest blocks until the bounds hold.
func (r *recentBlocks) trim() {
	n := 0
	for n < len(r.blocks) && (len(r.blocks)-n > r.maxBlocks || r.bytes > r.maxBytes) {
		r.bytes -= r.sizes[n]
		n++
	}
	if n == 0 {
		return
	}
	if n == len(r.blocks) {
		r.clear()
		return
	}
	// Copy down so that the backing arrays do not grow without bound.
	r.first += uint64(n)
	r.blocks = append(r.blocks[:0], r.blocks[n:]...)
	r.sizes = append(r.sizes[:0], r.sizes[n:]...)
	clear(r.blocks[len(r.blocks):cap(r.blocks)])
}

func (r *recentBlocks) clear() {
	r.first = 0
	clear(r.blocks)
	r.blocks, r.sizes, r.bytes = r.blocks[:0], r.sizes[:0], 0
}
