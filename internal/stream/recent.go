package stream

import (
	"sync/atomic"

	"github.com/strand-db/strand/internal/journal"
)

// recentReader is implemented by a journal that keeps its newest published
// blocks in memory (*journal.Log: see journal/recent.go). A worker that is
// caught up takes the blocks it sends from there instead of reading them
// back from the store and decoding them; on a miss (the worker fell behind
// the buffer, was restarted or is backfilling) it reads the store. Either
// way it walks the journal block by block from its checkpoint, so nothing
// is skipped or reordered, and the checkpoint records exactly what it
// recorded before.
type recentReader interface {
	Recent(seq uint64) (*journal.Block, bool)
}

// blockSourceHook, when set (by tests only), is asked before each block a
// worker reads whether the worker may use the in-memory buffer, and told
// where each block came from.
var blockSourceHook atomic.Pointer[BlockSourceHook]

// BlockSourceHook lets a test force a stream's worker to read the store
// (Memory returning false) and see where each block it read came from.
type BlockSourceHook struct {
	Memory func(streamID string) bool
	Read   func(streamID string, seq uint64, fromMemory bool)
}

// block returns journal block seq for delivery: from the journal's
// in-memory buffer of recently committed blocks when it holds it, else
// from the store.
func (w *worker) block(seq uint64) (*journal.Block, bool, error) {
	h := blockSourceHook.Load()
	if rr, ok := w.j.(recentReader); ok && (h == nil || h.Memory == nil || h.Memory(w.id)) {
		if b, ok := rr.Recent(seq); ok {
			if h != nil && h.Read != nil {
				h.Read(w.id, seq, true)
			}
			w.m.opts.Metrics.blocksRead.WithLabelValues(w.def.LedgerName, w.id, "memory").Inc()
			return b, true, nil
		}
	}
	b, ok, err := w.j.Block(seq)
	if ok && err == nil {
		if h != nil && h.Read != nil {
			h.Read(w.id, seq, false)
		}
		w.m.opts.Metrics.blocksRead.WithLabelValues(w.def.LedgerName, w.id, "store").Inc()
	}
	return b, ok, err
}
