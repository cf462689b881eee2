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
	nodes    nodeCache // its upper nodes, as proofs read them (treecache.go)

	// appendMu is held by the writer from Begin until End. Under it,
	// applied is the head after the newest group whose batch the store
	// applied: the next group builds on it, possibly while the groups
	// before it still wait for their tip records (see Group.Apply).
	appendMu sync.Mutex
	applied  head
	// inflight counts the groups applied but neither published nor
	// abandoned; Barrier waits for it to reach zero (flushed is
	// signalled on each change).
	inflightMu sync.Mutex
	inflight   int
	flushed    *sync.Cond
	notify     *notifier
	recent     recentBlocks // the newest published blocks (recent.go)
}

// head is the state a group builds on: the next sequence number, the hash
// and time of the newest block and the ledger tree.
type head struct {
	next uint64
	prev []byte
	last time.Time
	tree *Tree
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
	if l.tree, err = LoadTree(l.treeNodes(l.next.Load()), l.next.Load()); err != nil {
		return nil, fmt.Errorf("journal: ledger %s tree: %w", name, err)
	}
	l.applied = head{next: l.next.Load(), prev: l.lastHash, last: l.lastTime, tree: l.tree}
	l.flushed = sync.NewCond(&l.inflightMu)
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

// treeNodes reads the nodes of the durable tree of size leaves, its upper
// levels through the Log's cache.
func (l *Log) treeNodes(size uint64) TreeReader {
	return cachedNodes{cache: &l.nodes, store: StoreNodes{Store: l.st, Prefix: l.lay.Tree}, size: size}
}

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
	d, err := t.RootAt(l.treeNodes(t.Size()), tip+1)
	return d, l.checkRead("ledger digest", err)
}

// BlockProof returns the ledger-tree siblings that fold block seq's hash
// into the digest at tip.
func (l *Log) BlockProof(seq, tip uint64) ([][]byte, error) {
	l.mu.RLock()
	t := l.tree
	l.mu.RUnlock()
	p, err := t.InclusionProof(l.treeNodes(t.Size()), seq, tip+1)
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
	l.inflightMu.Lock()
	for l.inflight > 0 {
		l.flushed.Wait()
	}
	l.inflightMu.Unlock()
	return l.next.Load()
}

// Group is one group of blocks being appended to a Log in one store batch.
// Begin starts it; Append adds sealed blocks; Apply makes the batch durable
// and End releases the Log for the next group, which builds on this one;
// Record then writes the new tip record and Publish makes the blocks
// visible to readers (or Abandon gives the group up). Commit is Apply and
// Record in one call.
//
// Groups are recorded and published (or abandoned) in the order they were
// applied, by one goroutine at a time; the writer may build and apply the
// next group meanwhile. A group that is never applied leaves the Log as it
// was. Once a group fails to apply or to record, the writer must append
// nothing more: the ledger must be opened again (its applied blocks then
// reappear, recorded).
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
	// inflight: applied, and neither published nor abandoned yet.
	inflight bool
}

// Begin starts a group of appends into batch, after the newest applied
// group (which may not be published yet). It holds the Log's append lock
// until End: one group at a time, and Barrier waits for it.
func (l *Log) Begin(batch store.IndexedBatch) *Group {
	l.appendMu.Lock()
	h := l.applied
	return &Group{l: l, batch: batch, tree: h.tree.Clone(), next: h.next, prev: h.prev, last: h.last}
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

// Apply applies the group's batch (synced). On success the next group
// builds on this one (End may come at once), and the group must be
// recorded and published, or abandoned, in turn. After a failure nothing
// of the group was applied, or (when the store cannot tell) the blocks may
// be durable; they reappear (recorded) when the ledger is next opened.
func (g *Group) Apply() error {
	if err := g.l.st.Apply(g.batch); err != nil {
		return fmt.Errorf("journal: commit: %w", err)
	}
	l := g.l
	l.applied = head{next: g.next, prev: g.prev, last: g.last, tree: g.tree}
	l.inflightMu.Lock()
	l.inflight++
	l.inflightMu.Unlock()
	g.inflight = true
	return nil
}

// Record writes the group's tip record when the Log keeps Tips (a no-op
// otherwise): nothing of the group may be acknowledged before it succeeds.
// Call it after Apply and after the previous group was recorded.
func (g *Group) Record() error {
	if g.l.tips == nil {
		return nil
	}
	if err := g.l.tips.Record(store.TipRecord{LedgerID: g.l.id, Next: g.next, Hash: g.prev}); err != nil {
		return fmt.Errorf("journal: commit: %w", err)
	}
	return nil
}

// Commit is Apply then Record: nothing of the group may be acknowledged
// before it succeeds. A group whose Record fails is abandoned.
func (g *Group) Commit() error {
	if err := g.Apply(); err != nil {
		return err
	}
	if err := g.Record(); err != nil {
		g.Abandon()
		return err
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
	g.settle()
}

// Abandon gives up an applied group that will not be published (its tip
// record failed, or one before it did): Barrier stops waiting for it.
// It does nothing for a group that was not applied or is settled.
func (g *Group) Abandon() { g.settle() }

// settle ends the group's time in flight.
func (g *Group) settle() {
	if !g.inflight {
		return
	}
	g.inflight = false
	l := g.l
	l.inflightMu.Lock()
	l.inflight--
	l.flushed.Broadcast()
	l.inflightMu.Unlock()
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
