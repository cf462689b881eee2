package txn

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/partiql"
	"github.com/strand-db/strand/internal/qldbid"
	"github.com/strand-db/strand/internal/store"
)

// tableMeta is a table's catalogue entry.
type tableMeta struct {
	ID      string      `json:"id"`
	Name    string      `json:"name"`
	Active  bool        `json:"active"`
	Indexes []indexMeta `json:"indexes,omitempty"`
	Version uint64      `json:"version"` // revision number of the catalogue entry
}

type indexMeta struct {
	ID     string `json:"id"`
	Field  string `json:"field"`
	Status string `json:"status"`
}

func (t *tableMeta) clone() *tableMeta {
	c := *t
	c.Indexes = append([]indexMeta(nil), t.Indexes...)
	return &c
}

func (t *tableMeta) info() partiql.TableInfo {
	ti := partiql.TableInfo{ID: t.ID, Name: t.Name, Active: t.Active}
	for _, ix := range t.Indexes {
		ti.Indexes = append(ti.Indexes, partiql.IndexInfo{ID: ix.ID, Field: ix.Field, Status: ix.Status})
	}
	return ti
}

// ion is the catalogue entry as an Ion struct: the data of the table's
// system revision.
func (t *tableMeta) ion() *ionvalue.Value {
	idx := make([]*ionvalue.Value, len(t.Indexes))
	for i, ix := range t.Indexes {
		idx[i] = ionvalue.Struct(
			ionvalue.Field{Name: "indexId", Value: ionvalue.String(ix.ID)},
			ionvalue.Field{Name: "expr", Value: ionvalue.String("[" + ix.Field + "]")},
			ionvalue.Field{Name: "status", Value: ionvalue.String(ix.Status)},
		)
	}
	status := "ACTIVE"
	if !t.Active {
		status = "INACTIVE"
	}
	return ionvalue.Struct(
		ionvalue.Field{Name: "tableId", Value: ionvalue.String(t.ID)},
		ionvalue.Field{Name: "name", Value: ionvalue.String(t.Name)},
		ionvalue.Field{Name: "status", Value: ionvalue.String(status)},
		ionvalue.Field{Name: "indexes", Value: ionvalue.List(idx...)},
	)
}

// ledgerMeta is stored once per ledger.
type ledgerMeta struct {
	StrandID string `json:"strandId"`
}

// Ledger is one ledger's journal and derived state: its tables, documents
// and indexes, the OCC bookkeeping and the commit pipeline. Blocks are
// appended only by its committer goroutine.
type Ledger struct {
	ID       string
	Name     string
	StrandID string

	st   store.Store
	keys keys
	// damage turns a read error meeting on-disk corruption into the
	// client's error, marking the ledger damaged (Engine.storageFailure).
	damage func(where string, err error) error
	tips   Tips // nil: the store's own commit is the authority

	// next is the number of durable blocks: the sequence number the next
	// block gets. Transactions take it as their snapshot.
	next atomic.Uint64

	mu       sync.RWMutex
	tables   map[string]*tableMeta // durable catalogue by table id
	lastHash []byte                // blockHash of the newest durable block
	tree     *journal.Tree         // ledger Merkle tree of the durable blocks; replaced, never mutated, under mu

	occ      *occState
	open     snapshots // snapshots of open transactions, for pruning occ
	failed   error     // set when a durable write failed: the ledger refuses commits
	commitCh chan *commitRequest
	stop     chan struct{}
	stopped  chan struct{}
	now      func() time.Time

	// notify is broadcast after every durable commit group; stream workers
	// wait on it.
	notify *notifier
	// commitMu is held by the committer from choosing a group's timestamp
	// until the group is durable (see Barrier).
	commitMu sync.Mutex
	lastTime time.Time // timestamp of the newest block: block times never go backwards

	// pending is what the open transactions hold (pending documents,
	// statement texts, unfetched result rows), bounded by maxPending (0: no
	// bound).
	pending    atomic.Int64
	maxPending int64
}

// openLedger loads (or initialises) the ledger with the given catalogue id.
// With tips set it compares the journal with the ledger's tip record first
// and fails with a *JournalLoss when acknowledged blocks are missing.
func openLedger(st store.Store, tips Tips, id, name string, clock func() time.Time) (*Ledger, error) {
	l := &Ledger{
		ID: id, Name: name, st: st, keys: newKeys(id), tips: tips,
		tables: map[string]*tableMeta{}, occ: newOCCState(),
		commitCh: make(chan *commitRequest, 1024), stop: make(chan struct{}), stopped: make(chan struct{}),
		now: clock, notify: newNotifier(),
	}
	raw, ok, err := st.Get(l.keys.meta())
	if err != nil {
		return nil, err
	}
	var meta ledgerMeta
	if ok {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("txn: ledger %s meta: %w", name, err)
		}
	} else {
		meta.StrandID = qldbid.New()
		b, _ := json.Marshal(meta)
		batch := st.NewBatch()
		_ = batch.Set(l.keys.meta(), b)
		err := st.Apply(batch)
		batch.Close()
		if err != nil {
			return nil, err
		}
	}
	l.StrandID = meta.StrandID
	var decodeErr error
	err = st.Scan(l.keys.tables(), store.PrefixEnd(l.keys.tables()), func(_, v []byte) bool {
		t := new(tableMeta)
		if decodeErr = json.Unmarshal(v, t); decodeErr != nil {
			return false
		}
		l.tables[t.ID] = t
		return true
	})
	if err == nil {
		err = decodeErr
	}
	if err != nil {
		return nil, fmt.Errorf("txn: ledger %s tables: %w", name, err)
	}
	// The tip is the newest block.
	err = st.ScanReverse(l.keys.blocks(), store.PrefixEnd(l.keys.blocks()), func(_, v []byte) bool {
		var b *journal.Block
		b, decodeErr = decodeBlock(v)
		if decodeErr == nil {
			l.next.Store(b.Address.SequenceNo + 1)
			l.lastHash = b.BlockHash
			l.lastTime = b.Timestamp
		}
		return false
	})
	if err == nil {
		err = decodeErr
	}
	if err != nil {
		return nil, fmt.Errorf("txn: ledger %s tip: %w", name, err)
	}
	if tips != nil {
		loss, rewrite, err := compareTip(tips, id, name, l.next.Load(), l.lastHash, storedBlockHash(st, l.keys))
		if err != nil {
			return nil, err
		}
		if loss != nil {
			return nil, loss
		}
		if rewrite {
			if err := tips.Record(store.TipRecord{LedgerID: id, Next: l.next.Load(), Hash: l.lastHash}); err != nil {
				return nil, fmt.Errorf("txn: ledger %s: %w", name, err)
			}
		}
	}
	if l.tree, err = journal.LoadTree(l.treeNodes(), l.next.Load()); err != nil {
		return nil, fmt.Errorf("txn: ledger %s tree: %w", name, err)
	}
	go l.commitLoop()
	return l, nil
}

// close stops the committer after the requests already queued.
func (l *Ledger) close() {
	close(l.stop)
	<-l.stopped
}

// Tip returns the address and hash of the newest durable block; ok is false
// for an empty journal.
func (l *Ledger) Tip() (addr journal.BlockAddress, hash []byte, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := l.next.Load()
	if n == 0 {
		return journal.BlockAddress{StrandID: l.StrandID}, nil, false
	}
	return journal.BlockAddress{StrandID: l.StrandID, SequenceNo: n - 1}, append([]byte(nil), l.lastHash...), true
}

func (l *Ledger) treeNodes() journal.StoreNodes {
	return journal.StoreNodes{Store: l.st, Prefix: l.keys.tree()}
}

// Digest returns the ledger digest at tip: the Merkle root over the block
// hashes of blocks 0..tip.
func (l *Ledger) Digest(tip uint64) ([]byte, error) {
	l.mu.RLock()
	t := l.tree
	l.mu.RUnlock()
	d, err := t.RootAt(l.treeNodes(), tip+1)
	return d, l.checkRead("ledger digest", err)
}

// BlockProof returns the ledger-tree siblings that fold block seq's hash
// into the digest at tip.
func (l *Ledger) BlockProof(seq, tip uint64) ([][]byte, error) {
	l.mu.RLock()
	t := l.tree
	l.mu.RUnlock()
	p, err := t.InclusionProof(l.treeNodes(), seq, tip+1)
	return p, l.checkRead("ledger Merkle tree", err)
}

// RevisionBlock returns the sequence number of the block that wrote a
// document's revision.
func (l *Ledger) RevisionBlock(docID string, version uint64) (uint64, bool, error) {
	raw, ok, err := l.st.Get(l.keys.revisionBlock(docID, version))
	if err != nil || !ok || len(raw) != 8 {
		return 0, false, l.checkRead("revision index", err)
	}
	return blockSeq(raw), true, nil
}

// Block reads the durable block with the given sequence number.
func (l *Ledger) Block(seq uint64) (*journal.Block, bool, error) {
	raw, ok, err := l.st.Get(l.keys.block(seq))
	if err != nil || !ok {
		return nil, false, l.checkRead(fmt.Sprintf("block %d", seq), err)
	}
	b, err := decodeBlock(raw)
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// Next returns the number of durable blocks.
func (l *Ledger) Next() uint64 { return l.next.Load() }

// Changed returns a channel that is closed when the next commit group is
// durable (Next has grown).
func (l *Ledger) Changed() <-chan struct{} { return l.notify.Wait() }

// Barrier waits for any commit group in flight and returns Next. Every block
// committed after Barrier returns has a timestamp no earlier than the moment
// Barrier was called, so a reader that has seen blocks [0, Barrier()) has
// seen every block stamped before that moment.
func (l *Ledger) Barrier() uint64 {
	l.commitMu.Lock()
	defer l.commitMu.Unlock()
	return l.next.Load()
}

// table returns a durable table by id.
func (l *Ledger) table(id string) (*tableMeta, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	t, ok := l.tables[id]
	return t, ok
}

// tableList returns the durable tables.
func (l *Ledger) tableList() []*tableMeta {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]*tableMeta, 0, len(l.tables))
	for _, t := range l.tables {
		out = append(out, t)
	}
	return out
}

// encodeBlock stores a block as the Ion binary of its GetBlock shape.
func encodeBlock(b *journal.Block) ([]byte, error) {
	return ionvalue.MarshalBinary(b.Ion())
}

// decodeBlock reverses encodeBlock and fills each document revision's table
// from transactionInfo.documents.
func decodeBlock(raw []byte) (*journal.Block, error) {
	v, err := ionvalue.DecodeStored(raw)
	if err != nil {
		return nil, fmt.Errorf("txn: block: %w", err)
	}
	b, err := journal.BlockFromIon(v)
	if err != nil {
		return nil, fmt.Errorf("txn: block: %w", err)
	}
	tables := make(map[string]journal.DocumentInfo, len(b.TransactionInfo.Documents))
	for _, d := range b.TransactionInfo.Documents {
		tables[d.DocumentID] = d
	}
	for i := range b.Revisions {
		if d, ok := tables[b.Revisions[i].Metadata.ID]; ok {
			b.Revisions[i].TableName, b.Revisions[i].TableID = d.TableName, d.TableID
		}
	}
	return b, nil
}
