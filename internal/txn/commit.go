package txn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/partiql"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/store"
)

// maxGroup bounds how many transactions share one synced write.
const maxGroup = 256

// commitRequest asks the committer to commit one transaction.
type commitRequest struct {
	tx   *Transaction
	done chan commitResult // buffered, receives exactly once
}

type commitResult struct {
	block *journal.Block
	err   error
}

// errNotDurable is the error of a commit that a failed durable write (the
// store's synced batch, or the tip record) left unacknowledged, and of every
// later commit of the ledger: InternalFailure, which says so, wrapped
// with err for the server's log (the client sees only the message).
func errNotDurable(ledger string, err error) error {
	return fmt.Errorf("%w: txn: ledger %s: %w", qldberr.New(qldberr.InternalFailure, "The commit failed: the server could not write the transaction durably "+
		"(its storage failed), so it may or may not be in the journal after the server restarts. Ledger %s accepts "+
		"no more commits until the server is restarted; reads still work", ledger), ledger, err)
}

// errOCC is the error a conflicting commit gets.
func errOCC() error {
	return qldberr.New(qldberr.OccConflict, "Optimistic concurrency control (OCC) failure encountered while committing the transaction")
}

// commit hands t to the committer and waits until its block is durable (or
// the commit failed). Commits are serialized into the hash chain by one
// goroutine per ledger, and concurrent ones share an fsync (group commit).
// commit ends t (Transaction.end) once t's outcome is known.
//
// When ctx is done first, commit returns errCommitCancelled at once
// without the outcome. If t was not yet handed to the committer it never
// commits; if it was, it commits or fails exactly as it would have, and t is
// ended in the background when the committer answers (so its snapshot keeps
// protecting OCC until then).
//
// settled, when not nil, is called once with the real outcome (nil when t
// committed), also when commit returned errCommitCancelled before it was
// known.
func (l *LedgerEngine) commit(ctx context.Context, t *Transaction, settled func(error)) (*journal.Block, error) {
	if settled == nil {
		settled = func(error) {}
	}
	req := &commitRequest{tx: t, done: make(chan commitResult, 1)}
	select {
	case l.commitCh <- req:
	case <-l.stop:
		t.end()
		settled(errClosing(l.Name))
		return nil, errClosing(l.Name)
	case <-ctx.Done():
		t.end()
		settled(errNeverCommitted(t.ID))
		return nil, errCommitCancelled(t.ID)
	}
	select {
	case res := <-req.done:
		t.end()
		settled(res.err)
		return res.block, res.err
	case <-ctx.Done():
		go func() {
			res := <-req.done
			t.end()
			settled(res.err)
		}()
		return nil, errCommitCancelled(t.ID)
	}
}

// errClosing is the error of a commit that reached a ledger engine as it
// closed (the node shuts down, or another node took the ledger): nothing
// was written, and the session is gone with the engine, so it is
// InvalidSessionException, which the drivers retry with a new session (on
// a shared store, on the ledger's new owner).
func errClosing(name string) error {
	return qldberr.New(qldberr.InvalidSession, "Ledger %s closed on this node before the transaction committed; nothing was written; start a new session", name)
}

// errCommitCancelled is the error of a commit whose request was cancelled
// before its outcome was known.
func errCommitCancelled(txID string) error {
	return qldberr.New(qldberr.BadRequest, "Commit of transaction %s cancelled: the client cancelled the request before the commit's outcome was known", txID)
}

// commitLoop is the ledger's committer: it takes the queued commit
// requests as groups, builds and applies each (commitGroup) and hands the
// applied group to the recorder (recordLoop), which writes its tip record,
// publishes it and answers its requests. The committer builds and applies
// the next group meanwhile, so the store's sync and the tip record's
// overlap whenever more than one transaction is in flight.
func (l *LedgerEngine) commitLoop() {
	defer close(l.stopped)
	applied := make(chan *appliedGroup) // unbuffered: at most one group waits for its record
	recorded := make(chan struct{})
	go l.recordLoop(applied, recorded)
	defer func() {
		close(applied)
		<-recorded
	}()
	for {
		select {
		case req := <-l.commitCh:
			group := []*commitRequest{req}
		drain:
			for len(group) < maxGroup {
				select {
				case r := <-l.commitCh:
					group = append(group, r)
				default:
					break drain
				}
			}
			if a := l.commitGroup(group); a != nil {
				applied <- a
			}
		case <-l.stop:
			for {
				select {
				case r := <-l.commitCh:
					r.done <- commitResult{err: errClosing(l.Name)}
				default:
					return
				}
			}
		}
	}
}

// groupState is the committer's view while it accepts a group: the tables
// as changed by earlier transactions of the group, the next sequence number
// and the chain head.
type groupState struct {
	tables map[string]*tableMeta
	log    *journal.Group // the group's appends: next sequence number, chain head
	now    time.Time
}

// table returns a table as the group sees it: changed by the group, or as
// the newest applied group left it (committerTable).
func (g *groupState) table(l *LedgerEngine, id string) (*tableMeta, bool) {
	if t, ok := g.tables[id]; ok {
		return t, true
	}
	return l.committerTable(id)
}

// accepted is one transaction of a group, with its block.
type accepted struct {
	req   *commitRequest
	block *journal.Block
}

// appliedGroup is a group whose batch the store applied, on its way to the
// recorder: its journal group, its transactions and the tables it changed.
type appliedGroup struct {
	jg      *journal.Group
	batch   store.IndexedBatch // closed by the recorder
	ok      []accepted
	tables  map[string]*tableMeta
	started time.Time // when Apply began
}

// commitFailure returns the error of a ledger whose durable write failed
// (nil while it commits), for every commit after it.
func (l *LedgerEngine) commitFailure() error {
	l.failedMu.Lock()
	failed := l.failed
	l.failedMu.Unlock()
	return l.failureError(failed)
}

// failureError is the error a commit gets after the durable write that
// failed with err (nil for nil).
func (l *LedgerEngine) failureError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrConflict):
		// The fencing token changed: another node owns the ledger now (or
		// the fence row is damaged) and nothing of the group was written.
		return l.refusedByFence()
	case l.abandon != nil:
		// A shared store's failure: the node gives the ledger up
		// (sharedStoreFailure), and a new session finds the next owner.
		return errAbandoned(l.Name)
	default:
		return errNotDurable(l.Name, err)
	}
}

// fail records the first failed durable write; the ledger commits nothing
// more until it is opened again.
func (l *LedgerEngine) fail(err error) {
	l.failedMu.Lock()
	defer l.failedMu.Unlock()
	if l.failed == nil {
		l.failed = err
	}
}

// commitGroup builds group's blocks into one batch and applies it. It
// answers the requests that fail (OCC conflicts, refused statements, a
// failed ledger or write) and returns the applied rest for the recorder,
// or nil when nothing was applied.
func (l *LedgerEngine) commitGroup(group []*commitRequest) *appliedGroup {
	if err := l.commitFailure(); err != nil {
		for _, r := range group {
			r.done <- commitResult{err: err}
		}
		return nil
	}
	batch := l.st.NewIndexedBatch()
	if err := l.fence.expect(batch); err != nil {
		batch.Close()
		for _, r := range group {
			r.done <- commitResult{err: fmt.Errorf("txn: %w", err)}
		}
		return nil
	}
	jg := l.Begin(batch)
	defer jg.End()
	g := &groupState{tables: map[string]*tableMeta{}, log: jg}
	g.now = l.now().UTC().Truncate(time.Millisecond)
	if g.now.Before(jg.LastTime()) {
		g.now = jg.LastTime()
	}

	var ok []accepted
	for _, r := range group {
		if l.occ.conflicts(r.tx.reads) {
			l.observe().OCCConflict()
			r.done <- commitResult{err: errOCC()}
			continue
		}
		b, ws, err := l.buildBlock(r.tx, g, batch)
		if err != nil {
			r.done <- commitResult{err: err}
			continue
		}
		l.occ.record(ws, b.Address.SequenceNo)
		ok = append(ok, accepted{r, b})
	}
	if l.occ.size() > 100000 {
		l.occ.prune(l.open.min(l.Next()))
	}
	if len(ok) == 0 {
		batch.Close()
		return nil
	}
	// Apply makes the batch durable; the recorder then records the new
	// tip outside the store (journal.Tips) before anyone hears of it. When
	// either fails nothing is acknowledged and the ledger stops
	// committing: the blocks may be in the store and reappear (recorded)
	// when the ledger is next opened.
	a := &appliedGroup{jg: jg, batch: batch, ok: ok, tables: g.tables, started: time.Now()}
	if err := jg.Apply(); err != nil {
		batch.Close()
		l.fail(err)
		l.observe().CommitGroup(len(ok), time.Since(a.started), false)
		if l.abandon != nil && !errors.Is(err, store.ErrConflict) {
			reqs := make([]*commitRequest, len(ok))
			for i, a := range ok {
				reqs[i] = a.req
			}
			l.sharedStoreFailure(reqs, err)
			return nil
		}
		cerr := l.failureError(err)
		for _, a := range ok {
			a.req.done <- commitResult{err: cerr}
		}
		return nil
	}
	// The next group builds on this one's tables.
	for id, t := range g.tables {
		l.ctables[id] = t
	}
	return a
}

// recordLoop is the recorder: for each applied group, in order, it writes
// the tip record, then publishes the group and acknowledges its
// transactions, or (after a failure of this group or an earlier one)
// abandons it and answers every transaction with the failure. It closes
// done when applied is closed and drained.
func (l *LedgerEngine) recordLoop(applied <-chan *appliedGroup, done chan<- struct{}) {
	defer close(done)
	// recordErr is the first failed tip record: every later group is
	// abandoned. A failure of the committer's own (a later group's Apply)
	// does not concern the groups applied before it.
	var recordErr error
	for a := range applied {
		if recordErr == nil {
			if err := a.jg.Record(); err != nil {
				recordErr = err
				l.fail(err)
			}
		}
		l.observe().CommitGroup(len(a.ok), time.Since(a.started), recordErr == nil)
		if recordErr != nil {
			a.jg.Abandon()
			cerr := l.failureError(recordErr)
			for _, t := range a.ok {
				t.req.done <- commitResult{err: cerr}
			}
			a.batch.Close()
			continue
		}
		// Tables first, then the journal's tip: a transaction that sees
		// the new Next also sees the tables its blocks created.
		l.mu.Lock()
		for id, t := range a.tables {
			l.tables[id] = t
		}
		l.mu.Unlock()
		a.jg.Publish()
		for _, t := range a.ok {
			t.req.done <- commitResult{block: t.block}
		}
		a.batch.Close()
	}
}

// observe returns the ledger's CommitObserver (one that ignores all for a
// ledger opened outside Engine.Ledger, as some tests do).
func (l *LedgerEngine) observe() CommitObserver {
	if l.observer == nil {
		return ignoreCommits{}
	}
	return l.observer
}

// buildBlock turns a transaction into the next block of g, adds every
// derived record to batch and appends the block through g.log. Nothing is
// added when building fails; a failure of the append itself (reading the
// ledger tree, a batch write) may leave the derived records in batch.
func (l *LedgerEngine) buildBlock(t *Transaction, g *groupState, batch store.IndexedBatch) (*journal.Block, *writeSet, error) {
	addr := journal.BlockAddress{StrandID: l.StrandID, SequenceNo: g.log.Next()}
	meta := func(id string, version uint64) journal.RevisionMetadata {
		return journal.RevisionMetadata{ID: id, Version: version, TxTime: g.now, TxID: t.ID}
	}
	ws := &writeSet{}
	var revs []journal.Revision
	// The batch writes, queued until the block is built: a set or delete
	// is one element (no closure each); other writes carry a function.
	var ops []batchOp
	set := func(k, v []byte) { ops = append(ops, batchOp{key: k, value: v}) }
	del := func(k []byte) { ops = append(ops, batchOp{key: k, del: true}) }

	// Catalogue changes first: later document writes see new indexes.
	var newTables map[string]*tableMeta // made by the first catalogue change
	for _, id := range t.tableOrder {
		tm := t.tables[id].clone()
		old, existed := g.table(l, id)
		if existed {
			tm.Version = old.Version + 1
		}
		for i := range tm.Indexes {
			if tm.Indexes[i].Status == partiql.IndexBuilding {
				tm.Indexes[i].Status = partiql.IndexOnline
				if err := l.buildIndex(batch, id, tm.Indexes[i].Field, set); err != nil {
					return nil, nil, err
				}
			}
		}
		if existed {
			for _, ix := range old.Indexes {
				if !hasIndex(tm, ix.Field) {
					lo := l.keys.indexField(id, ix.Field)
					ops = append(ops, batchOp{fn: func() error { return batch.DeleteRange(lo, store.PrefixEnd(lo)) }})
				}
			}
		}
		raw, err := json.Marshal(tm)
		if err != nil {
			return nil, nil, fmt.Errorf("txn: %w", err)
		}
		set(l.keys.table(id), raw)
		if err := l.storeTableTags(tm, set); err != nil {
			return nil, nil, err
		}
		revs = append(revs, journal.Revision{Hash: journal.RevisionHash(tm.ion(), meta(id, tm.Version))})
		if newTables == nil {
			newTables = map[string]*tableMeta{}
		}
		newTables[id] = tm
		ws.tables = append(ws.tables, id)
		ws.names = append(ws.names, tm.Name)
		if old != nil && old.Name != tm.Name {
			ws.names = append(ws.names, old.Name)
		}
	}
	if len(t.tableOrder) > 0 {
		ws.names = append(ws.names, catalogName)
	}
	tableOf := func(id string) (*tableMeta, bool) {
		if tm, ok := newTables[id]; ok {
			return tm, true
		}
		return g.table(l, id)
	}

	// Document revisions, in the order the transaction first touched them.
	type docWrite struct {
		id   string
		p    *pendingDoc
		data *ionvalue.Value // decoded p.raw; nil for a deletion
	}
	var docs []docWrite
	info := journal.TransactionInfo{Statements: t.statements}
	for _, id := range t.writeOrder {
		p, ok := t.writes[id]
		if !ok {
			continue
		}
		tm, ok := tableOf(p.tableID)
		if !ok {
			return nil, nil, fmt.Errorf("txn: document %s in unknown table %s", id, p.tableID)
		}
		version := uint64(0)
		if p.base != nil {
			version = p.base.version + 1
		}
		data, err := p.value()
		if err != nil {
			return nil, nil, err
		}
		revs = append(revs, journal.Revision{Data: data, Metadata: meta(id, version), TableName: tm.Name, TableID: tm.ID})
		info.Documents = append(info.Documents, journal.DocumentInfo{DocumentID: id, TableName: tm.Name, TableID: tm.ID, Statements: p.stmts})
		docs = append(docs, docWrite{id, p, data})
	}

	b := &journal.Block{Address: addr, TransactionID: t.ID, Timestamp: g.now, TransactionInfo: info, Revisions: revs}
	if err := l.buildRedaction(t, b, g, ws, func(op func() error) { ops = append(ops, batchOp{fn: op}) }, set); err != nil {
		return nil, nil, err
	}
	b.Seal(g.log.Prev())

	docRevs := b.Revisions[len(b.Revisions)-len(docs):]
	for i, d := range docs {
		tm, _ := tableOf(d.p.tableID)
		if err := l.keys.storeRevision(addr, tm.ID, docRevs[i], set, del); err != nil {
			return nil, nil, err
		}
		var old *ionvalue.Value
		var err error
		if d.p.base != nil && len(tm.Indexes) > 0 {
			if old, err = d.p.base.value(); err != nil {
				return nil, nil, err
			}
		}
		for _, ix := range tm.Indexes {
			var oldKey, newKey []byte
			if d.p.base != nil {
				oldKey = partiql.IndexKey(old.Get(ix.Field))
			}
			if d.data != nil {
				newKey = partiql.IndexKey(d.data.Get(ix.Field))
			}
			if string(oldKey) == string(newKey) && d.p.base != nil && d.data != nil {
				continue
			}
			if d.p.base != nil && oldKey != nil {
				del(l.keys.indexEntry(tm.ID, ix.Field, oldKey, d.id))
				ws.keys = append(ws.keys, indexKeyID(tm.ID, ix.Field, oldKey))
			}
			if d.data != nil && newKey != nil {
				set(l.keys.indexEntry(tm.ID, ix.Field, newKey, d.id), nil)
				ws.keys = append(ws.keys, indexKeyID(tm.ID, ix.Field, newKey))
			}
		}
		ws.docs = append(ws.docs, d.id)
		ws.scans = append(ws.scans, tm.ID)
	}
	for _, op := range ops {
		if err := op.apply(batch); err != nil {
			return nil, nil, fmt.Errorf("txn: batch: %w", err)
		}
	}
	if err := g.log.Append(b); err != nil {
		return nil, nil, fmt.Errorf("txn: %w", err)
	}
	for id, tm := range newTables {
		g.tables[id] = tm
	}
	return b, ws, nil
}

// batchOp is one queued write of buildBlock: fn when set, else a delete of
// key when del, else a set of key to value.
type batchOp struct {
	key, value []byte
	del        bool
	fn         func() error
}

func (op batchOp) apply(batch store.IndexedBatch) error {
	switch {
	case op.fn != nil:
		return op.fn()
	case op.del:
		return batch.Delete(op.key)
	default:
		return batch.Set(op.key, op.value)
	}
}

func hasIndex(tm *tableMeta, field string) bool {
	for _, ix := range tm.Indexes {
		if ix.Field == field {
			return true
		}
	}
	return false
}

// buildIndex queues an entry for every live document of a table (as seen
// through the group's batch) under a new index.
func (l *LedgerEngine) buildIndex(batch store.IndexedBatch, tableID, field string, set func(k, v []byte)) error {
	return l.keys.indexEntries(batch, tableID, field, set)
}

// storeRevision queues the derived records of document revision rev of the
// block at addr, in table tableID: its history entry (h/) and the
// document's latest live revision (d/; deleted when rev deletes the
// document), both the committed view, Ion binary. Commit and
// RebuildDerived both write revisions through it.
func (k keys) storeRevision(addr journal.BlockAddress, tableID string, rev journal.Revision, set func(k, v []byte), del func(k []byte)) error {
	committed, err := journal.EncodeRevision(rev, addr)
	if err != nil {
		return fmt.Errorf("txn: encode revision: %w", err)
	}
	if rev.Data != nil {
		set(k.doc(tableID, rev.Metadata.ID), committed)
	} else {
		del(k.doc(tableID, rev.Metadata.ID))
	}
	set(k.revision(tableID, rev.Metadata.ID, rev.Metadata.Version), committed)
	return nil
}

// indexEntries queues an index entry (x/) under index field of table
// tableID for every live document of the table as r shows it (d/).
func (k keys) indexEntries(r store.Reader, tableID, field string, set func(k, v []byte)) error {
	prefix := k.docs(tableID)
	it, err := r.NewIter(prefix, store.PrefixEnd(prefix))
	if err != nil {
		return fmt.Errorf("txn: build index: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		id := string(it.Key()[len(prefix):])
		v, err := it.Value()
		if err != nil {
			return fmt.Errorf("txn: build index: %w", err)
		}
		cd, err := decodeCommitted(v)
		if err != nil {
			return err
		}
		if key := partiql.IndexKey(cd.data.Get(field)); key != nil {
			set(k.indexEntry(tableID, field, key, id), nil)
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("txn: build index: %w", err)
	}
	return nil
}

// refusedByFence is the error of a commit whose fencing expectation failed:
// InvalidSessionException (another node serves the ledger now), unless the
// ledger's lease metadata is damaged, which is named (leaseDamage).
func (l *LedgerEngine) refusedByFence() error {
	if l.fenceDamage != nil {
		if derr := l.fenceDamage(); derr != nil {
			if err, ok := leaseDamage(l.ID, l.Name, derr); ok {
				return err
			}
		}
	}
	return notHeld(l.Name)
}
