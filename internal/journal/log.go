package journal

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/store"
)

// Reader is the read side of one ledger's journal: what a stream worker
// tails. *Log implements it.
type Reader interface {
	// Next is the number of durable blocks.
	Next() uint64
	// Block reads a durable block.
	Block(seq uint64) (*Block, bool, error)
	// Changed is closed when more blocks are durable.
	Changed() <-chan struct{}
	// Barrier waits for an in-flight append and returns Next; blocks
	// appended later are stamped no earlier than the call.
	Barrier() uint64
}

// Log is one ledger's journal: its blocks (b/), the revision lookup (r/),
// the ledger Merkle tree (m/), the tip and, when Tips are kept, the
// acknowledged-tip record. It answers digests, block and revision proofs
// and wakes readers when blocks become durable.
//
// Blocks are appended only through Begin, by one writer at a time (the
// ledger's committer in package txn); every read method is safe for
// concurrent use.
type Log struct {
	id, name string
	strandID string
	st       store.Store
	lay      Layout
	tips     Tips // nil: the store's own commit is the authority

	// damage turns a read error into the client's error (see SetDamage).
	damage func(where string, err error) error

	// next is the number of durable blocks: the sequence number the next
	// block gets.
	next atomic.Uint64

	mu       sync.RWMutex
	lastHash []byte    // blockHash of the newest durable block
	lastTime time.Time // timestamp of the newest durable block
	tree     *Tree     // ledger Merkle tree of the durable blocks; replaced, never mutated, under mu

	// appendMu is held by the writer from Begin until the group is
	// published or abandoned (see Barrier).
	appendMu sync.Mutex
	notify   *notifier
	recent   recentBlocks // the newest published blocks (recent.go)
}

// Open reads the tip of the journal of ledger id (named name in errors;
// blocks are addressed with strandID) and its ledger tree. With tips set
// it first compares the journal with the ledger's acknowledged-tip record:
// it fails with a *JournalLoss when acknowledged blocks are missing, and
// brings a record that is missing or behind to the journal's tip.
func Open(st store.Store, tips Tips, id, name, strandID string) (*Log, error) {
	l := &Log{id: id, name: name, strandID: strandID, st: st, lay: LedgerLayout(id), tips: tips, notify: newNotifier()}
	l.recent.maxBlocks, l.recent.maxBytes = DefaultRecentBlocks, DefaultRecentBytes
	b, err := newestBlock(st, l.lay)
	if err != nil {
		return nil, fmt.Errorf("journal: ledger %s tip: %w", name, err)
	}
	if b != nil {
		l.next.Store(b.Address.SequenceNo + 1)
		l.lastHash = b.BlockHash
		l.lastTime = b.Timestamp
	}
	if tips != nil {
		loss, rewrite, err := compareTip(tips, id, name, l.next.Load(), l.lastHash, storedBlockHash(st, l.lay))
		if err != nil {
			return nil, err
		}
		if loss != nil {
			return nil, loss
		}
		if rewrite {
			if err := tips.Record(store.TipRecord{LedgerID: id, Next: l.next.Load(), Hash: l.lastHash}); err != nil {
				return nil, fmt.Errorf("journal: ledger %s: %w", name, err)
			}
		}
	}
	if l.tree, err = LoadTree(l.treeNodes(), l.next.Load()); err != nil {
		return nil, fmt.Errorf("journal: ledger %s tree: %w", name, err)
	}
	return l, nil
}

// SetDamage installs the function that turns a read error into the error a
// request gets (it marks the ledger damaged when the error is on-disk
// corruption). Call it before the Log is shared; without it read errors are
// returned unchanged.
func (l *Log) SetDamage(fn func(where string, err error) error) { l.damage = fn }

// checkRead passes a read error of where through the damage function.
func (l *Log) checkRead(where string, err error) error {
	if err == nil || l.damage == nil {
		return err
	}
	return l.damage(where, err)
}

func (l *Log) treeNodes() StoreNodes { return StoreNodes{Store: l.st, Prefix: l.lay.Tree} }

// Next returns the number of durable blocks.
func (l *Log) Next() uint64 { return l.next.Load() }

// Tip returns the address and hash of the newest durable block; ok is false
// for an empty journal.
func (l *Log) Tip() (addr BlockAddress, hash []byte, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := l.next.Load()
	if n == 0 {
		return BlockAddress{StrandID: l.strandID}, nil, false
	}
	return BlockAddress{StrandID: l.strandID, SequenceNo: n - 1}, append([]byte(nil), l.lastHash...), true
}

// Digest returns the ledger digest at tip: the Merkle root over the block
// hashes of blocks 0..tip.
func (l *Log) Digest(tip uint64) ([]byte, error) {
	l.mu.RLock()
	t := l.tree
	l.mu.RUnlock()
	d, err := t.RootAt(l.treeNodes(), tip+1)
	return d, l.checkRead("ledger digest", err)
}

// BlockProof returns the ledger-tree siblings that fold block seq's hash
// into the digest at tip.
func (l *Log) BlockProof(seq, tip uint64) ([][]byte, error) {
	l.mu.RLock()
	t := l.tree
	l.mu.RUnlock()
	p, err := t.InclusionProof(l.treeNodes(), seq, tip+1)
	return p, l.checkRead("ledger Merkle tree", err)
}

// RevisionBlock returns the sequence number of the block that wrote a
// document's revision.
func (l *Log) RevisionBlock(docID string, version uint64) (uint64, bool, error) {
	raw, ok, err := l.st.Get(l.lay.RevisionBlock(docID, version))
	if err != nil || !ok || len(raw) != 8 {
		return 0, false, l.checkRead("revision index", err)
	}
	return binary.BigEndian.Uint64(raw), true, nil
}

// Block reads the durable block with the given sequence number.
func (l *Log) Block(seq uint64) (*Block, bool, error) {
	raw, ok, err := l.st.Get(l.lay.Block(seq))
	if err != nil || !ok {
		return nil, false, l.checkRead(fmt.Sprintf("block %d", seq), err)
	}
	b, err := DecodeBlock(raw)
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// Changed returns a channel that is closed when the next group of blocks is
// durable (Next has grown).
func (l *Log) Changed() <-chan struct{} { return l.notify.Wait() }

// Barrier waits for any append in flight and returns Next. Every block
// appended after Barrier returns has a timestamp no earlier than the moment
// Barrier was called, so a reader that has seen blocks [0, Barrier()) has
// seen every block stamped before that moment.
func (l *Log) Barrier() uint64 {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	return l.next.Load()
}

// Group is one group of blocks being appended to a Log in one store batch.
// Begin starts it; Append adds sealed blocks; Commit makes the batch
// durable and records the new tip; Publish makes the blocks visible to
// readers; End releases the Log for the next group. A group that is not
// published leaves the Log as it was (its batch must then not be applied).
type Group struct {
	l     *Log
	batch store.IndexedBatch
	tree  *Tree
	next  uint64
	prev  []byte
	last  time.Time
	// The group's appended blocks and the blocks its redactions rewrote,
	// for the recent-block buffer (recent.go).
	blocks   []*Block
	redacted []uint64
}

// Begin starts a group of appends into batch. It holds the Log's append
// lock until End: one group at a time, and Barrier waits for it.
func (l *Log) Begin(batch store.IndexedBatch) *Group {
	l.appendMu.Lock()
	l.mu.RLock()
	g := &Group{l: l, batch: batch,
		tree: l.tree.Clone(), next: l.next.Load(), prev: l.lastHash, last: l.lastTime}
	l.mu.RUnlock()
	return g
}

// Next is the sequence number the next appended block must have.
func (g *Group) Next() uint64 { return g.next }

// Prev is the hash of the newest block (appended or durable): the
// previousBlockHash of the next block.
func (g *Group) Prev() []byte { return g.prev }

// LastTime is the timestamp of the newest block (appended or durable);
// block times never go backwards.
func (g *Group) LastTime() time.Time { return g.last }

// StrandID is the strand id that addresses the ledger's blocks.
func (g *Group) StrandID() string { return g.l.strandID }

// Append adds a sealed block to the group: the block itself, the revision
// lookup entry of each of its document revisions and the ledger tree's new
// nodes go into the batch. The block must be the next one and be chained
// to Prev. When encoding fails nothing is written.
func (g *Group) Append(b *Block) error {
	if b.Address.SequenceNo != g.next {
		return fmt.Errorf("journal: append block %d, want block %d", b.Address.SequenceNo, g.next)
	}
	raw, err := EncodeBlock(b)
	if err != nil {
		return fmt.Errorf("journal: encode block: %w", err)
	}
	if err := g.l.lay.IndexBlock(g.batch, g.tree, b); err != nil {
		return err
	}
	if err := g.batch.Set(g.l.lay.Block(b.Address.SequenceNo), raw); err != nil {
		return fmt.Errorf("journal: batch: %w", err)
	}
	g.blocks = append(g.blocks, b)
	g.next++
	g.prev = b.BlockHash
	if b.Timestamp.After(g.last) {
		g.last = b.Timestamp
	}
	return nil
}

// IndexBlock adds to w what the journal derives from block b: it appends
// b's hash to tree (the ledger tree of blocks 0..b-1) writing the nodes
// that completes under the layout's m/ prefix, and writes the revision
// lookup (r/) entry of each of b's document revisions. It is the one
// writer of those records, used by Group.Append at commit and when the
// derived records are rebuilt from the journal (txn.RebuildDerived). On
// error tree is unchanged but w may hold some writes: discard it.
func (lay Layout) IndexBlock(w store.Writer, tree *Tree, b *Block) error {
	if err := tree.Append(BatchNodes{Batch: w, Prefix: lay.Tree}, b.BlockHash); err != nil {
		return err
	}
	seq := binary.BigEndian.AppendUint64(nil, b.Address.SequenceNo)
	for _, r := range b.Revisions {
		if r.IsSystem() { // a table's system revision
			continue
		}
		if err := w.Set(lay.RevisionBlock(r.Metadata.ID, r.Metadata.Version), seq); err != nil {
			return fmt.Errorf("journal: batch: %w", err)
		}
	}
	return nil
}

// Commit applies the batch (synced) and, when the Log keeps Tips, records
// the new tip outside the store before returning: nothing of the group may
// be acknowledged before Commit succeeds. After a failure the blocks may
// be durable in the store; they reappear (recorded) when the ledger is
// next opened.
func (g *Group) Commit() error {
	if err := g.l.st.Apply(g.batch); err != nil {
		return fmt.Errorf("journal: commit: %w", err)
	}
	if g.l.tips != nil {
		if err := g.l.tips.Record(store.TipRecord{LedgerID: g.l.id, Next: g.next, Hash: g.prev}); err != nil {
			return fmt.Errorf("journal: commit: %w", err)
		}
	}
	return nil
}

// Publish makes the committed group visible: its blocks enter the
// recent-block buffer (recent.go), Next, Tip, the tree and the time floor
// advance, and Changed's channel is closed. The group's blocks must not be
// modified afterwards: readers share them.
func (g *Group) Publish() {
	l := g.l
	l.recent.add(g.blocks, g.redacted)
	l.mu.Lock()
	l.lastHash = g.prev
	l.lastTime = g.last
	l.tree = g.tree
	l.next.Store(g.next)
	l.mu.Unlock()
	l.notify.broadcast()
}

// End releases the append lock. Call it exactly once per Begin.
func (g *Group) End() { g.l.appendMu.Unlock() }

// DecodeBlock reverses EncodeBlock: it decodes the stored Ion and reads it
// with BlockFromIon, the one block parser (which fills each document
// revision's table from transactionInfo.documents). The block owns its
// memory.
func DecodeBlock(raw []byte) (*Block, error) {
	v, err := ionvalue.DecodeStored(raw)
	if err != nil {
		return nil, fmt.Errorf("journal: block: %w", err)
	}
	b, err := BlockFromIon(v)
	if err != nil {
		return nil, fmt.Errorf("journal: block: %w", err)
	}
	return b, nil
}

// notifier wakes any number of waiters each time something happens.
type notifier struct {
	mu sync.Mutex
	ch chan struct{}
}

func newNotifier() *notifier { return &notifier{ch: make(chan struct{})} }

// Wait returns a channel closed at the next broadcast.
func (n *notifier) Wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

func (n *notifier) broadcast() {
	n.mu.Lock()
	close(n.ch)
	n.ch = make(chan struct{})
	n.mu.Unlock()
}
