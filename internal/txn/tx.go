package txn

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/partiql"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/qldbid"
	"github.com/strand-db/strand/internal/store"
)

// QLDB's per-transaction quotas.
const (
	MaxDocumentsPerTx  = 40
	MaxDocumentBytes   = 128 * 1024
	MaxTransactionSize = 4 * 1024 * 1024
	MaxStatementChars  = 100000
	MaxIndexesPerTable = 5
	// A statement parameter's size, as the QLDBSession model bounds
	// ValueHolder: IonBinary bytes and IonText characters.
	MaxParamBinaryBytes = 131072
	MaxParamTextChars   = 1048576
)

// committedDoc is a live document as stored: its data, the committed-view
// struct and its version.
type committedDoc struct {
	data      *ionvalue.Value
	committed *ionvalue.Value
	version   uint64
}

// pendingDoc is a document this transaction wrote. It is kept compactly,
// as Ion binary, and decoded when read: an in-memory value tree of a
// document of many small fields is several times its binary size, and
// open transactions may hold thousands of pending documents.
type pendingDoc struct {
	tableID string
	raw     []byte   // Ion binary of the new data; nil: deleted
	base    *baseRev // nil: inserted by this transaction
	stmts   []int    // statement indexes that touched it
	size    int      // Ion binary size of the data (len(raw))
	mem     int64    // bytes held in memory for it (ledger quota)
}

// baseRev is the committed revision a pending document replaces, as stored.
type baseRev struct {
	version uint64
	raw     []byte // the stored committed-view revision
}

// value decodes the pending data; nil when the document is deleted.
func (p *pendingDoc) value() (*ionvalue.Value, error) {
	if p.raw == nil {
		return nil, nil
	}
	v, err := ionvalue.DecodeOne(p.raw)
	if err != nil {
		return nil, fmt.Errorf("txn: pending document: %w", err)
	}
	return v, nil
}

// value decodes the base revision's data.
func (b *baseRev) value() (*ionvalue.Value, error) {
	cd, err := decodeCommitted(b.raw)
	if err != nil {
		return nil, err
	}
	return cd.data, nil
}

type undoEntry struct {
	docID   string
	doc     *pendingDoc // previous pending state; nil when there was none
	tableID string
	table   *tableMeta // previous tx-local table state; nil when there was none
	isTable bool
}

// Transaction is an open QLDB transaction. It implements partiql.Tx: reads
// see committed state overlaid with the transaction's own writes, and
// record what they read for OCC. Writes stay in memory until commit.
type Transaction struct {
	ID       string
	ledger   *LedgerEngine
	snapshot uint64 // Ledger.Next() at start: no read's sequence number is lower (OCC pruning)
	started  time.Time

	digest     *qldbhash.CommitDigest
	reads      *readSet
	statements []journal.StatementInfo // statements that succeeded, in order
	current    int                     // index of the running statement in statements

	writes      map[string]*pendingDoc
	writeOrder  []string
	tables      map[string]*tableMeta // tables created or changed by this transaction
	tableOrder  []string
	undo        []undoEntry
	txBytes     int   // Ion binary size of the pending documents (QLDB's 4 MB quota)
	memBytes    int64 // sum of the pending documents' mem
	stmtBytes   int64 // bytes of the statement texts kept for transactionInfo
	cursorBytes int64 // bytes of result rows kept for FetchPage
	held        int64 // bytes charged to the ledger's pending-bytes quota
	ended       bool

	docsRead int64
	cursors  map[string]*cursor

	redaction *journal.RedactionTarget // EXEC redact_revision, at most one (redact.go)
}

func newTransaction(l *LedgerEngine, now time.Time) *Transaction {
	t := &Transaction{
		ID: qldbid.New(), ledger: l, snapshot: l.Next(), started: now,
		reads: newReadSet(), writes: map[string]*pendingDoc{}, // tables and cursors: made on first use
	}
	t.digest = qldbhash.NewCommitDigest(t.ID)
	l.open.add(t, t.snapshot)
	return t
}

// readSeq is the number of durable blocks, loaded before a read: the read
// will see at least every block below it (journal.Log.Next advances only after a
// block's batch is applied). Record it with note before reading.
func (t *Transaction) readSeq() uint64 { return t.ledger.Next() }

// end releases the transaction's snapshot and its share of the ledger's
// pending-bytes quota. It may be called more than once.
func (t *Transaction) end() {
	if t.ended {
		return
	}
	t.ended = true
	t.ledger.open.remove(t)
	t.ledger.pending.Add(-t.held)
	t.held = 0
}

var _ partiql.Tx = (*Transaction)(nil)

// TxID implements partiql.Tx.
func (t *Transaction) TxID() string { return t.ID }

// lookupTable finds a table by id in the transaction's view.
func (t *Transaction) lookupTable(id string) (*tableMeta, bool) {
	if tm, ok := t.tables[id]; ok {
		return tm, true
	}
	return t.ledger.table(id)
}

// allTables is the transaction's view of the catalogue.
func (t *Transaction) allTables() []*tableMeta {
	var out []*tableMeta
	for _, tm := range t.ledger.tableList() {
		if _, changed := t.tables[tm.ID]; !changed {
			out = append(out, tm)
		}
	}
	for _, id := range t.tableOrder {
		out = append(out, t.tables[id])
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Name < out[j].Name || (out[i].Name == out[j].Name && out[i].ID < out[j].ID)
	})
	return out
}

// Table implements partiql.Tx.
func (t *Transaction) Table(name string) (partiql.TableInfo, bool) {
	seq := t.readSeq()
	note(&t.reads.names, name, seq)
	for _, tm := range t.allTables() {
		if tm.Active && tm.Name == name {
			note(&t.reads.tables, tm.ID, seq)
			return tm.info(), true
		}
	}
	return partiql.TableInfo{}, false
}

// TableByID implements partiql.Tx.
func (t *Transaction) TableByID(id string) (partiql.TableInfo, bool) {
	seq := t.readSeq()
	tm, ok := t.lookupTable(id)
	if !ok {
		return partiql.TableInfo{}, false
	}
	note(&t.reads.tables, id, seq)
	return tm.info(), true
}

// Tables implements partiql.Tx.
func (t *Transaction) Tables() []partiql.TableInfo {
	seq := t.readSeq()
	all := t.allTables()
	out := make([]partiql.TableInfo, len(all))
	for i, tm := range all {
		note(&t.reads.tables, tm.ID, seq)
		note(&t.reads.names, tm.Name, seq)
		out[i] = tm.info()
	}
	note(&t.reads.names, catalogName, seq)
	return out
}

// decodeCommitted parses a stored committed-view revision.
func decodeCommitted(raw []byte) (*committedDoc, error) {
	v, err := ionvalue.DecodeStored(raw)
	if err != nil {
		return nil, fmt.Errorf("txn: stored revision: %w", err)
	}
	meta := v.Get("metadata")
	ver := meta.Get("version")
	if ver == nil {
		return nil, fmt.Errorf("txn: stored revision has no version")
	}
	return &committedDoc{data: v.Get("data"), committed: v, version: uint64(ver.Int)}, nil
}

// loadCommitted reads a live committed document.
func (t *Transaction) loadCommitted(tableID, docID string) (*committedDoc, bool, error) {
	raw, ok, err := t.ledger.st.Get(t.ledger.keys.doc(tableID, docID))
	if err != nil || !ok {
		return nil, false, err
	}
	cd, err := decodeCommitted(raw)
	if err != nil {
		return nil, false, err
	}
	return cd, true, nil
}

// document is the live pending document as a read returns it.
func (p *pendingDoc) document(id string) (partiql.Document, error) {
	v, err := p.value()
	if err != nil {
		return partiql.Document{}, err
	}
	return partiql.Document{ID: id, Data: v}, nil
}

// Scan implements partiql.Tx.
func (t *Transaction) Scan(tableID string, fn func(doc partiql.Document) bool) error {
	note(&t.reads.scans, tableID, t.readSeq())
	prefix := t.ledger.keys.docs(tableID)
	stop := false
	var decodeErr error
	err := t.ledger.st.Scan(prefix, store.PrefixEnd(prefix), func(k, v []byte) bool {
		id := string(k[len(prefix):])
		t.docsRead++
		if p, ok := t.writes[id]; ok {
			if p.raw == nil {
				return true
			}
			d, err := p.document(id)
			if err != nil {
				decodeErr = err
				return false
			}
			if !fn(d) {
				stop = true
				return false
			}
			return true
		}
		cd, err := decodeCommitted(v)
		if err != nil {
			decodeErr = err
			return false
		}
		if !fn(partiql.Document{ID: id, Data: cd.data, Committed: cd.committed}) {
			stop = true
			return false
		}
		return true
	})
	if err != nil {
		return err
	}
	if decodeErr != nil {
		return decodeErr
	}
	if stop {
		return nil
	}
	for _, id := range t.writeOrder {
		p := t.writes[id]
		if p == nil || p.tableID != tableID || p.base != nil || p.raw == nil {
			continue
		}
		d, err := p.document(id)
		if err != nil {
			return err
		}
		if !fn(d) {
			return nil
		}
	}
	return nil
}

// Get implements partiql.Tx.
func (t *Transaction) Get(tableID, docID string) (partiql.Document, bool, error) {
	note(&t.reads.docs, docID, t.readSeq())
	t.docsRead++
	if p, ok := t.writes[docID]; ok {
		if p.tableID != tableID || p.raw == nil {
			return partiql.Document{}, false, nil
		}
		d, err := p.document(docID)
		return d, err == nil, err
	}
	cd, ok, err := t.loadCommitted(tableID, docID)
	if err != nil || !ok {
		return partiql.Document{}, false, err
	}
	return partiql.Document{ID: docID, Data: cd.data, Committed: cd.committed}, true, nil
}

// Lookup implements partiql.Tx.
func (t *Transaction) Lookup(tableID, field string, key *ionvalue.Value, fn func(doc partiql.Document) bool) error {
	ik := partiql.IndexKey(key)
	note(&t.reads.keys, indexKeyID(tableID, field, ik), t.readSeq())
	prefix := t.ledger.keys.indexPrefix(tableID, field, ik)
	var ids []string
	if err := t.ledger.st.Scan(prefix, store.PrefixEnd(prefix), func(k, _ []byte) bool {
		ids = append(ids, string(k[len(prefix):]))
		return true
	}); err != nil {
		return err
	}
	for _, id := range ids {
		if _, mine := t.writes[id]; mine {
			continue // delivered below from the overlay, if it still matches
		}
		d, ok, err := t.Get(tableID, id)
		if err != nil {
			return err
		}
		if ok && !fn(d) {
			return nil
		}
	}
	for _, id := range t.writeOrder {
		p := t.writes[id]
		if p == nil || p.tableID != tableID || p.raw == nil {
			continue
		}
		d, err := p.document(id)
		if err != nil {
			return err
		}
		if !bytes.Equal(partiql.IndexKey(d.Data.Get(field)), ik) {
			continue
		}
		if !fn(d) {
			return nil
		}
	}
	return nil
}

// History implements partiql.Tx.
func (t *Transaction) History(tableID string, q partiql.HistoryQuery, fn func(rev *ionvalue.Value) bool) error {
	note(&t.reads.scans, tableID, t.readSeq())
	prefix := t.ledger.keys.history(tableID)
	if q.DocumentID != "" {
		prefix = t.ledger.keys.docHistory(tableID, q.DocumentID)
	}
	type rev struct {
		doc    string
		v      *ionvalue.Value
		txTime time.Time
	}
	var pending *rev
	stop := false
	// deliver emits pending if it was active within [Start, End]; its
	// activity ends at next (zero: still active now).
	deliver := func(next time.Time) bool {
		p := pending
		pending = nil
		if p == nil {
			return true
		}
		if !q.End.IsZero() && p.txTime.After(q.End) {
			return true
		}
		if !q.Start.IsZero() && !next.IsZero() && next.Before(q.Start) {
			return true
		}
		return fn(p.v)
	}
	var decodeErr error
	err := t.ledger.st.Scan(prefix, store.PrefixEnd(prefix), func(k, v []byte) bool {
		rest := k[len(t.ledger.keys.history(tableID)):]
		doc := string(rest[:bytes.IndexByte(rest, '/')])
		val, err := ionvalue.DecodeStored(v)
		if err != nil {
			decodeErr = fmt.Errorf("txn: history: %w", err)
			return false
		}
		t.docsRead++
		var txTime time.Time
		if ts := val.Get("metadata").Get("txTime"); ts != nil {
			txTime = ts.Time.GetDateTime()
		}
		next := time.Time{}
		if pending != nil && pending.doc == doc {
			next = txTime
		}
		if !deliver(next) {
			stop = true
			return false
		}
		pending = &rev{doc: doc, v: val, txTime: txTime}
		return true
	})
	if err != nil {
		return err
	}
	if decodeErr != nil {
		return decodeErr
	}
	if !stop {
		deliver(time.Time{})
	}
	return nil
}

// touch records that the running statement wrote docID, keeping an undo
// entry so that a failing statement leaves no trace.
func (t *Transaction) touch(docID string, next *pendingDoc) error {
	prev, had := t.writes[docID]
	newSize := t.txBytes
	if had {
		newSize -= prev.size
	}
	if next != nil {
		newSize += next.size
	}
	if !had && next != nil && len(t.writes) >= MaxDocumentsPerTx {
		return qldberr.New(qldberr.LimitExceeded, "Transaction %s exceeds the limit of %d documents per transaction", t.ID, MaxDocumentsPerTx)
	}
	if newSize > MaxTransactionSize {
		return qldberr.New(qldberr.LimitExceeded, "Transaction %s exceeds the limit of %d bytes per transaction", t.ID, MaxTransactionSize)
	}
	newMem := t.memBytes
	if had {
		newMem -= prev.mem
	}
	if next != nil {
		next.mem = next.memSize()
		newMem += next.mem
	}
	if err := t.hold(newMem - t.memBytes); err != nil {
		return err
	}
	t.memBytes = newMem
	var saved *pendingDoc
	if had {
		c := *prev
		c.stmts = append([]int(nil), prev.stmts...)
		saved = &c
	}
	t.undo = append(t.undo, undoEntry{docID: docID, doc: saved})
	if next == nil {
		delete(t.writes, docID)
	} else {
		if !had && !containsString(t.writeOrder, docID) {
			t.writeOrder = append(t.writeOrder, docID)
		}
		if n := len(next.stmts); n == 0 || next.stmts[n-1] != t.current {
			next.stmts = append(next.stmts, t.current)
		}
		t.writes[docID] = next
	}
	t.txBytes = newSize
	return nil
}

// memSize is what a pending document holds in memory, as counted against
// the ledger's pending-bytes quota: its Ion binary, the stored revision it
// replaces, and the bookkeeping around them.
func (p *pendingDoc) memSize() int64 {
	n := int64(256 + len(p.raw))
	if p.base != nil {
		n += int64(len(p.base.raw))
	}
	return n
}

// encodeDoc is a document's Ion binary, within QLDB's document size limit.
// The encoding stops once it passes the limit: a document built from
// shared parts (a list of the same long string many times over) would
// otherwise encode to gigabytes before its size was checked.
func encodeDoc(data *ionvalue.Value) ([]byte, error) {
	b, err := ionvalue.MarshalBinaryUpTo(data, MaxDocumentBytes)
	if errors.Is(err, ionvalue.ErrTooLarge) {
		return nil, qldberr.New(qldberr.LimitExceeded, "Document size exceeds the limit of %d bytes (Ion binary)", MaxDocumentBytes)
	}
	if err != nil {
		return nil, &partiql.Error{Code: partiql.CodeEvaluation, Message: fmt.Sprintf("Evaluation Error: document cannot be stored: %v", err)}
	}
	return b, nil
}

// Insert implements partiql.Tx.
func (t *Transaction) Insert(tableID string, data *ionvalue.Value) (string, error) {
	raw, err := encodeDoc(data)
	if err != nil {
		return "", err
	}
	if err := t.checkUnique(tableID, "", data); err != nil { // extensions.go
		return "", err
	}
	id := qldbid.New()
	if err := t.touch(id, &pendingDoc{tableID: tableID, raw: raw, size: len(raw)}); err != nil {
		return "", err
	}
	return id, nil
}

// current returns the pending or committed state of a live document.
func (t *Transaction) pendingFor(tableID, docID string) (*pendingDoc, error) {
	if p, ok := t.writes[docID]; ok {
		if p.tableID != tableID || p.raw == nil {
			return nil, fmt.Errorf("txn: document %s is not live in table %s", docID, tableID)
		}
		c := *p
		c.stmts = append([]int(nil), p.stmts...)
		return &c, nil
	}
	note(&t.reads.docs, docID, t.readSeq())
	raw, ok, err := t.ledger.st.Get(t.ledger.keys.doc(tableID, docID))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("txn: document %s is not live in table %s", docID, tableID)
	}
	cd, err := decodeCommitted(raw)
	if err != nil {
		return nil, err
	}
	// raw (the new data) is set by the caller, Update or Delete.
	return &pendingDoc{tableID: tableID, base: &baseRev{version: cd.version, raw: raw}}, nil
}

// Update implements partiql.Tx.
func (t *Transaction) Update(tableID, docID string, data *ionvalue.Value) error {
	raw, err := encodeDoc(data)
	if err != nil {
		return err
	}
	if err := t.checkUnique(tableID, docID, data); err != nil { // extensions.go
		return err
	}
	p, err := t.pendingFor(tableID, docID)
	if err != nil {
		return err
	}
	p.raw, p.size = raw, len(raw)
	return t.touch(docID, p)
}

// Delete implements partiql.Tx.
func (t *Transaction) Delete(tableID, docID string) error {
	p, err := t.pendingFor(tableID, docID)
	if err != nil {
		return err
	}
	if p.base == nil { // inserted and deleted by this transaction: nothing to commit
		return t.touch(docID, nil)
	}
	p.raw, p.size = nil, 0
	return t.touch(docID, p)
}

// changeTable records a tx-local new state of a table, with undo.
func (t *Transaction) changeTable(tm *tableMeta) {
	prev, had := t.tables[tm.ID]
	var saved *tableMeta
	if had {
		saved = prev.clone()
	}
	t.undo = append(t.undo, undoEntry{isTable: true, tableID: tm.ID, table: saved})
	if !had {
		t.tableOrder = append(t.tableOrder, tm.ID)
	}
	if t.tables == nil {
		t.tables = map[string]*tableMeta{}
	}
	t.tables[tm.ID] = tm
}

func (t *Transaction) tableForChange(id string, seq uint64) (*tableMeta, error) {
	tm, ok := t.lookupTable(id)
	if !ok {
		return nil, fmt.Errorf("txn: no table %s", id)
	}
	note(&t.reads.tables, id, seq)
	return tm.clone(), nil
}

// CreateTable implements partiql.Tx.
func (t *Transaction) CreateTable(name string) (string, error) {
	note(&t.reads.names, name, t.readSeq())
	tm := &tableMeta{ID: qldbid.New(), Name: name, Active: true}
	t.changeTable(tm)
	return tm.ID, nil
}

// DropTable implements partiql.Tx.
func (t *Transaction) DropTable(tableID string) error {
	tm, err := t.tableForChange(tableID, t.readSeq())
	if err != nil {
		return err
	}
	tm.Active = false
	t.changeTable(tm)
	return nil
}

// UndropTable implements partiql.Tx.
func (t *Transaction) UndropTable(tableID string) error {
	seq := t.readSeq()
	tm, err := t.tableForChange(tableID, seq)
	if err != nil {
		return err
	}
	note(&t.reads.names, tm.Name, seq)
	tm.Active = true
	t.changeTable(tm)
	return nil
}

// CreateIndex implements partiql.Tx.
func (t *Transaction) CreateIndex(tableID, field string) (string, error) {
	tm, err := t.tableForChange(tableID, t.readSeq())
	if err != nil {
		return "", err
	}
	if len(tm.Indexes) >= MaxIndexesPerTable {
		return "", qldberr.New(qldberr.LimitExceeded, "Table %s already has the maximum of %d indexes", tm.Name, MaxIndexesPerTable)
	}
	ix := indexMeta{ID: qldbid.New(), Field: field, Status: partiql.IndexBuilding}
	tm.Indexes = append(tm.Indexes, ix)
	t.changeTable(tm)
	return ix.ID, nil
}

// DropIndex implements partiql.Tx.
func (t *Transaction) DropIndex(tableID, indexID string) error {
	tm, err := t.tableForChange(tableID, t.readSeq())
	if err != nil {
		return err
	}
	kept := tm.Indexes[:0]
	for _, ix := range tm.Indexes {
		if ix.ID != indexID {
			kept = append(kept, ix)
		}
	}
	tm.Indexes = kept
	t.changeTable(tm)
	return nil
}

// rollbackTo undoes every write after undo mark n.
func (t *Transaction) rollbackTo(n int) {
	for i := len(t.undo) - 1; i >= n; i-- {
		u := t.undo[i]
		if u.isTable {
			if u.table == nil {
				delete(t.tables, u.tableID)
				t.tableOrder = removeString(t.tableOrder, u.tableID)
			} else {
				t.tables[u.tableID] = u.table
			}
			continue
		}
		if cur, ok := t.writes[u.docID]; ok {
			t.txBytes -= cur.size
			t.memBytes -= cur.mem
		}
		if u.doc == nil {
			delete(t.writes, u.docID)
			t.writeOrder = removeString(t.writeOrder, u.docID)
		} else {
			if !containsString(t.writeOrder, u.docID) {
				t.writeOrder = append(t.writeOrder, u.docID)
			}
			t.writes[u.docID] = u.doc
			t.txBytes += u.doc.size
			t.memBytes += u.doc.mem
		}
	}
	t.undo = t.undo[:n]
	t.syncHeld()
}

// syncHeld makes the ledger charge match the pending state after an undo
// (which may give back more or, restoring an earlier larger version, take
// back some: an undo always succeeds).
func (t *Transaction) syncHeld() {
	if d := t.memBytes + t.stmtBytes + t.cursorBytes - t.held; d != 0 {
		t.ledger.pending.Add(d)
		t.held += d
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func removeString(list []string, s string) []string {
	for i, v := range list {
		if v == s {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}
