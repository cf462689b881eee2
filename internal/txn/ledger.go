package txn

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
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

	// tags are the AWS tags of a table created by this transaction with
	// CREATE TABLE ... WITH (aws_tags = ...), stored at commit (tabletags.go).
	tags map[string]string
}

type indexMeta struct {
	ID     string `json:"id"`
	Field  string `json:"field"`
	Status string `json:"status"`
	Unique bool   `json:"unique,omitempty"` // extension mode only (extensions.go)
}

func (t *tableMeta) clone() *tableMeta {
	c := *t
	c.Indexes = append([]indexMeta(nil), t.Indexes...)
	return &c
}

func (t *tableMeta) info() partiql.TableInfo {
	ti := partiql.TableInfo{ID: t.ID, Name: t.Name, Active: t.Active}
	for _, ix := range t.Indexes {
		ti.Indexes = append(ti.Indexes, partiql.IndexInfo{ID: ix.ID, Field: ix.Field, Status: ix.Status, Unique: ix.Unique})
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
		if ix.Unique {
			idx[i].Fields = append(idx[i].Fields, ionvalue.Field{Name: "unique", Value: ionvalue.Bool(true)})
		}
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

// fenceKV is a fencing expectation: the key and the token value.
type fenceKV struct{ key, value []byte }

// expect adds the fencing expectation to b, if any.
func (f *fenceKV) expect(b store.Batch) error {
	if f == nil {
		return nil
	}
	return b.Expect(f.key, f.value)
}

// ledgerMeta is stored once per ledger.
type ledgerMeta struct {
	StrandID string `json:"strandId"`
	// Imported is set on a ledger whose journal was imported from a QLDB
	// export (ImportDerived); nil for a ledger Strand began.
	Imported *importMeta `json:"imported,omitempty"`
}

// importMeta is what an import leaves for later checks of the catalogue
// against the journal: the imported blocks' table system revisions are
// QLDB's (their data is not in the export), so RebuildDerived can match
// only the ones Strand wrote after the import.
type importMeta struct {
	Blocks uint64            `json:"blocks"` // blocks 0..Blocks-1 were imported
	Tables map[string]uint64 `json:"tables"` // table id -> catalogue version the import left
}

// LedgerEngine is one ledger's derived state (its tables, documents and indexes),
// the OCC bookkeeping and the commit pipeline, over the ledger's journal
// (the embedded *journal.Log, which answers blocks, the tip, digests and
// proofs). Blocks are appended only by its committer goroutine.
type LedgerEngine struct {
	*journal.Log

	ID       string
	Name     string
	StrandID string

	st   store.Store
	keys keys
	// fence is what every commit batch expects on a shared store (nil:
	// this node owns the ledger outright); see Options.Ownership.
	fence *fenceKV
	// damage turns a read error meeting on-disk corruption into the
	// client's error, marking the ledger damaged (Engine.storageFailure).
	damage func(where string, err error) error
	// fenceDamage, on a shared store, tells a damaged lease metadata row
	// from another node's ownership after a fenced commit was refused:
	// the row's damage, or nil (Engine.checkFence).
	fenceDamage func() error

	catalog *ledger.Catalog // the ledger catalogue (permissions mode); nil in some tests
	tagsMu  sync.Mutex      // serializes table tag read-modify-writes (tabletags.go)
	// extensions allows PartiQL beyond QLDB's (extensions.go).
	extensions bool

	mu     sync.RWMutex
	tables map[string]*tableMeta // durable catalogue by table id

	// ctables is the catalogue as the newest applied group left it (ahead
	// of tables while groups wait for their tip records); only the
	// committer goroutine touches it.
	ctables map[string]*tableMeta

	occ  *occState
	open snapshots // snapshots of open transactions, for pruning occ
	// failed is set when a durable write failed: the ledger refuses
	// commits (commitFailure).
	failedMu sync.Mutex
	failed   error
	abandon  func() // on a shared store: gives the ledger up (sharedfail.go)
	commitCh chan *commitRequest
	stop     chan struct{}
	stopped  chan struct{}
	now      func() time.Time

	// pending is what the open transactions hold (pending documents,
	// statement texts, unfetched result rows), bounded by maxPending (0: no
	// bound).
	pending    atomic.Int64
	maxPending int64

	observer CommitObserver // never nil once opened by Engine.Ledger
}

// openLedger loads (or initialises) the ledger with the given catalogue id.
// With tips set it compares the journal with the ledger's tip record first
// and fails with a *journal.JournalLoss when acknowledged blocks are missing
// (see journal.Open).
func openLedger(st store.Store, tips journal.Tips, id, name string, fence *fenceKV, clock func() time.Time) (*LedgerEngine, error) {
	l := &LedgerEngine{
		ID: id, Name: name, st: st, keys: newKeys(id), fence: fence,
		tables: map[string]*tableMeta{}, occ: newOCCState(),
		commitCh: make(chan *commitRequest, 1024), stop: make(chan struct{}), stopped: make(chan struct{}),
		now: clock,
	}
	meta, found, err := readLedgerMeta(st, l.keys)
	if err != nil {
		return nil, fmt.Errorf("txn: ledger %s: %w", name, err)
	}
	if !found {
		meta.StrandID = qldbid.New()
		b, _ := json.Marshal(meta)
		batch := st.NewBatch()
		_ = fence.expect(batch)
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
	if l.Log, err = journal.Open(st, tips, id, name, l.StrandID); err != nil {
		return nil, err
	}
	l.ctables = make(map[string]*tableMeta, len(l.tables))
	for id, t := range l.tables {
		l.ctables[id] = t
	}
	go l.commitLoop()
	return l, nil
}

// close stops the committer after the requests already queued.
func (l *LedgerEngine) close() {
	close(l.stop)
	<-l.stopped
}

// table returns a durable table by id.
func (l *LedgerEngine) table(id string) (*tableMeta, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	t, ok := l.tables[id]
	return t, ok
}

// committerTable returns a table as the newest applied group left it; only
// the committer goroutine may call it.
func (l *LedgerEngine) committerTable(id string) (*tableMeta, bool) {
	t, ok := l.ctables[id]
	return t, ok
}

// tableList returns the durable tables.
func (l *LedgerEngine) tableList() []*tableMeta {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]*tableMeta, 0, len(l.tables))
	for _, t := range l.tables {
		out = append(out, t)
	}
	return out
}
