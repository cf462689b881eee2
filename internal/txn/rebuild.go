package txn

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/store"
)

// Bounds of one write batch of RebuildDerived: it is applied once it holds
// this many writes or this many bytes of keys and values, whichever comes
// first, so memory (and, on PostgreSQL, the size of one transaction) stays
// bounded whatever the size of the ledger. Variables for the tests.
var (
	rebuildBatchWrites = 8192
	rebuildBatchBytes  = 8 << 20
)

// RebuildStats is what RebuildDerived did.
type RebuildStats struct {
	Phase          string // "catalogue", "journal", "indexes" or "done"
	Blocks         uint64 // journal blocks replayed
	Tables         uint64 // catalogue entries checked against their system revisions
	History        uint64 // h/ entries written: every document revision
	Latest         uint64 // d/ entries: live documents after the last block
	RevisionBlocks uint64 // r/ entries written
	IndexEntries   uint64 // x/ entries written
	Batches        uint64 // write batches applied
	// Notes (ImportDerived only) are the catalogue statements of the
	// imported journal that could not be replayed (see catalogueReplay).
	Notes []string
}

// ErrCatalogue is returned (wrapped) by RebuildDerived when the table
// catalogue (t/) does not match the journal, which holds only the hashes of
// the tables' system revisions: RebuildDerived then changes nothing.
var ErrCatalogue = errors.New("txn: the table catalogue does not match the journal")

// RebuildDerived rebuilds the derived records of ledger ledgerID in st from
// its journal (b/): the latest live revisions (d/), the history (h/), the
// index entries (x/), the revision lookup (r/) and the ledger Merkle tree
// (m/). It writes them with the same code commit uses, so a rebuilt record
// is byte for byte the record commit wrote. The ledger must not be served
// meanwhile (nothing else may write st's ledger).
//
// The table catalogue (t/) is checked, not rebuilt: a block holds only the
// hash of a table's system revision, and table and index ids are random, so
// the catalogue's content is not in the journal. Before anything is
// changed, every catalogue entry must hash to a system revision of a block
// (RevisionHash of the entry with the block's transaction id and time), the
// journal must hold exactly as many system revisions as the entries' version
// numbers account for, and every document revision's table must be in the
// catalogue; otherwise RebuildDerived fails with ErrCatalogue and changes
// nothing.
//
// Then it deletes d/, h/, x/, r/ and m/ and replays the blocks in order,
// applying bounded batches (each durable on its own), and last writes the
// index entries of every index of the catalogue over the rebuilt d/ (the
// index entries commit maintains are a function of the final catalogue and
// the live documents: a dropped index loses its entries, a new one is built
// over the live documents). The blocks, the ledger meta key and the lease
// and fencing keys are never touched. An interrupted rebuild leaves the
// derived records incomplete (strand verify fails); running it again
// finishes the job. progress, when not nil, is called after every applied
// batch and at the end of each phase.
func RebuildDerived(st store.Store, ledgerID string, progress func(RebuildStats)) (RebuildStats, error) {
	r := &rebuild{st: st, k: newKeys(ledgerID), lay: journal.LedgerLayout(ledgerID), progress: progress}
	meta, _, err := readLedgerMeta(st, r.k)
	if err != nil {
		return r.stats, fmt.Errorf("txn: rebuild: %w", err)
	}
	r.imported = meta.Imported
	if err := r.run(); err != nil {
		return r.stats, err
	}
	r.stats.Phase = "done"
	r.report()
	return r.stats, nil
}

type rebuild struct {
	st       store.Store
	k        keys
	lay      journal.Layout
	progress func(RebuildStats)
	stats    RebuildStats

	tables map[string]*tableMeta
	// imported is set for a ledger imported from a QLDB export: the
	// system revisions of its imported blocks are QLDB's, so only the
	// later ones are checked against the catalogue (checkCatalogue).
	imported *importMeta
	batch    store.Batch
	writes   int
	bytes    int
	err      error // the first failed write into batch
}

func (r *rebuild) report() {
	if r.progress != nil {
		r.progress(r.stats)
	}
}

func (r *rebuild) run() error {
	r.stats.Phase = "catalogue"
	if err := r.loadCatalogue(); err != nil {
		return err
	}
	if err := r.checkCatalogue(); err != nil {
		return err
	}
	r.report()

	r.stats.Phase = "journal"
	r.batch = r.st.NewBatch()
	defer func() { r.batch.Close() }()
	for _, p := range [][]byte{r.lay.Latest, r.lay.History, r.k.cat([]byte("x/")), r.lay.RevisionBlocks, r.lay.Tree} {
		if err := r.batch.DeleteRange(p, store.PrefixEnd(p)); err != nil {
			return fmt.Errorf("txn: rebuild: %w", err)
		}
	}
	if err := r.flush(); err != nil {
		return err
	}
	tree := journal.NewTree()
	err := r.blocks(func(b *journal.Block) error {
		if err := r.lay.IndexBlock(r, tree, b); err != nil {
			return fmt.Errorf("txn: rebuild block %d: %w", b.Address.SequenceNo, err)
		}
		for _, rev := range b.Revisions {
			if rev.IsSystem() {
				continue
			}
			if err := r.k.storeRevision(b.Address, rev.TableID, rev, r.set, r.del); err != nil {
				return fmt.Errorf("txn: rebuild block %d: %w", b.Address.SequenceNo, err)
			}
			r.stats.History++
			r.stats.RevisionBlocks++
		}
		r.stats.Blocks++
		return r.maybeFlush()
	})
	if err != nil {
		return err
	}
	if err := r.flush(); err != nil {
		return err
	}
	r.report()

	r.stats.Phase = "indexes"
	ids := make([]string, 0, len(r.tables))
	for id := range r.tables {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		prefix := r.k.docs(id)
		if err := r.st.Scan(prefix, store.PrefixEnd(prefix), func(_, _ []byte) bool { r.stats.Latest++; return true }); err != nil {
			return fmt.Errorf("txn: rebuild: %w", err)
		}
		for _, ix := range r.tables[id].Indexes {
			set := func(k, v []byte) {
				r.set(k, v)
				r.stats.IndexEntries++
				if err := r.maybeFlush(); err != nil && r.err == nil {
					r.err = err
				}
			}
			if err := r.k.indexEntries(r.st, id, ix.Field, set); err != nil {
				return err
			}
			if r.err != nil {
				return fmt.Errorf("txn: rebuild: %w", r.err)
			}
		}
	}
	return r.flush()
}

// loadCatalogue reads the table catalogue (t/).
func (r *rebuild) loadCatalogue() error {
	r.tables = map[string]*tableMeta{}
	prefix := r.k.tables()
	var perr error
	err := r.st.Scan(prefix, store.PrefixEnd(prefix), func(k, v []byte) bool {
		tm := new(tableMeta)
		if err := json.Unmarshal(v, tm); err != nil || tm.ID != string(k[len(prefix):]) {
			perr = fmt.Errorf("%w: catalogue entry %q is malformed", ErrCatalogue, k[len(prefix):])
			return false
		}
		r.tables[tm.ID] = tm
		return true
	})
	if err != nil {
		return fmt.Errorf("txn: rebuild: read catalogue: %w", err)
	}
	return perr
}

// checkCatalogue reads the journal once, without writing, and checks the
// catalogue against it (see RebuildDerived).
//
// On an imported ledger the system revisions of the imported blocks are
// QLDB's, whose data the export does not hold: a table the import left at
// version v accounts for v+1 of them, is not matched unless Strand changed
// it later, and only the system revisions of later blocks are counted.
func (r *rebuild) checkCatalogue() error {
	matched := map[string]bool{}
	var system, want, importedBlocks uint64
	for id, tm := range r.tables {
		want += tm.Version + 1
		if r.imported == nil {
			continue
		}
		if v, ok := r.imported.Tables[id]; ok {
			if tm.Version < v {
				return fmt.Errorf("%w: catalogue entry of table %s (%s) is at version %d, older than the version %d the import left", ErrCatalogue, tm.Name, id, tm.Version, v)
			}
			want -= v + 1
			matched[id] = tm.Version == v // nothing of Strand's to match
		}
	}
	if r.imported != nil {
		importedBlocks = r.imported.Blocks
	}
	err := r.blocks(func(b *journal.Block) error {
		var hashes [][]byte
		for _, rev := range b.Revisions {
			if rev.IsSystem() {
				hashes = append(hashes, rev.Hash)
				continue
			}
			if _, ok := r.tables[rev.TableID]; !ok {
				return fmt.Errorf("%w: block %d writes document %s of table %s (%s), which the catalogue lacks", ErrCatalogue, b.Address.SequenceNo, rev.Metadata.ID, rev.TableName, rev.TableID)
			}
		}
		if b.Address.SequenceNo < importedBlocks {
			return nil // QLDB's system revisions
		}
		system += uint64(len(hashes))
		if len(hashes) == 0 {
			return nil
		}
		for id, tm := range r.tables {
			if matched[id] {
				continue
			}
			h := journal.RevisionHash(tm.ion(), journal.RevisionMetadata{ID: id, Version: tm.Version, TxTime: b.Timestamp, TxID: b.TransactionID})
			for _, s := range hashes {
				if bytes.Equal(h, s) {
					matched[id] = true
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for id, tm := range r.tables {
		if !matched[id] {
			return fmt.Errorf("%w: catalogue entry of table %s (%s) version %d is not the data of any system revision in the journal", ErrCatalogue, tm.Name, id, tm.Version)
		}
	}
	if system != want {
		return fmt.Errorf("%w: the journal holds %d table system revisions, the catalogue's %d entries account for %d (an entry is missing)", ErrCatalogue, system, len(r.tables), want)
	}
	r.stats.Tables = uint64(len(r.tables))
	return nil
}

// blocks calls fn with every block of the journal in order, checking that
// they are numbered 0, 1, 2, ... without a gap.
func (r *rebuild) blocks(fn func(*journal.Block) error) error {
	lo := r.lay.Blocks
	it, err := r.st.NewIter(lo, store.PrefixEnd(lo))
	if err != nil {
		return fmt.Errorf("txn: rebuild: %w", err)
	}
	defer it.Close()
	var next uint64
	for ok := it.First(); ok; ok = it.Next() {
		raw, err := it.Value()
		if err != nil {
			return fmt.Errorf("txn: rebuild: read block %d: %w", next, err)
		}
		b, err := journal.DecodeBlock(raw)
		if err != nil {
			return fmt.Errorf("txn: rebuild: block %d: %w", next, err)
		}
		if !bytes.Equal(it.Key(), r.lay.Block(next)) || b.Address.SequenceNo != next {
			return fmt.Errorf("txn: rebuild: the journal lacks block %d (found %d): run strand verify", next, b.Address.SequenceNo)
		}
		if err := fn(b); err != nil {
			return err
		}
		next++
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("txn: rebuild: read journal: %w", err)
	}
	return nil
}

// Set implements store.Writer (for journal.Layout.IndexBlock): it adds to
// the current batch.
func (r *rebuild) Set(k, v []byte) error {
	r.set(k, v)
	return r.err
}

// Delete implements store.Writer.
func (r *rebuild) Delete(k []byte) error {
	r.del(k)
	return r.err
}

// DeleteRange implements store.Writer.
func (r *rebuild) DeleteRange(start, end []byte) error {
	if r.err == nil {
		r.err = r.batch.DeleteRange(start, end)
	}
	return r.err
}

func (r *rebuild) set(k, v []byte) {
	if r.err == nil {
		r.err = r.batch.Set(k, v)
		r.writes++
		r.bytes += len(k) + len(v)
	}
}

func (r *rebuild) del(k []byte) {
	if r.err == nil {
		r.err = r.batch.Delete(k)
		r.writes++
		r.bytes += len(k)
	}
}

// maybeFlush applies the batch once it reached a bound.
func (r *rebuild) maybeFlush() error {
	if r.err != nil {
		return fmt.Errorf("txn: rebuild: batch: %w", r.err)
	}
	if r.writes < rebuildBatchWrites && r.bytes < rebuildBatchBytes {
		return nil
	}
	return r.flush()
}

// flush applies the batch (durably) and starts a new one.
func (r *rebuild) flush() error {
	if r.err != nil {
		return fmt.Errorf("txn: rebuild: batch: %w", r.err)
	}
	if err := r.st.Apply(r.batch); err != nil {
		return fmt.Errorf("txn: rebuild: apply: %w", err)
	}
	r.batch.Close()
	r.batch = r.st.NewBatch()
	r.writes, r.bytes = 0, 0
	r.stats.Batches++
	r.report()
	return nil
}
