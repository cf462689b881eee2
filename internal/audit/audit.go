// Package audit checks a Strand data directory offline, the way an auditor
// would: for every ledger it re-reads the journal and recomputes every hash
// QLDB's verifiers recompute (each revision hash, the transactionInfo hash,
// the entries hash and the block hash, with journal.VerifyBlock), follows the
// hash chain from the first block, rebuilds the ledger Merkle tree in memory
// from the block hashes and compares every stored tree node and the stored
// root at the tip with it, and finally checks that every stored copy of a
// revision (the history entries, the latest-revision entries and the
// revision-to-block index) is the revision its block holds. Tampering with
// any of them is reported with the sequence number of the block concerned.
// Stored data that cannot be read because it is damaged on disk (a storage
// block whose checksum does not match) is a CheckStorage failure, naming the
// first journal block that cannot be read; the other ledgers are still
// checked.
//
// It also compares each journal with the ledger's acknowledged-tip record
// (journal.CheckJournal): a journal shorter than what was acknowledged fails
// the "tip" check at its first missing block, naming the missing range.
//
// The package reads a store.Store and knows nothing of HTTP; the strand
// verify command opens the store (which fails while a server holds it) and
// prints the report.
package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/store"
)

// Options tune Run. The zero value checks every ledger with one worker per
// CPU and reports no progress.
type Options struct {
	// Ledger restricts the check to the ledger of that name; Run fails
	// with an error wrapping ErrNoLedger when there is none.
	Ledger string
	// Workers is the number of goroutines decoding and hashing blocks;
	// 0 means runtime.GOMAXPROCS(0).
	Workers int
	// Progress, if set, is called about every ProgressEvery (default 1 s)
	// while a ledger is checked, always from the goroutine that called Run.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// Tips holds the ledgers' acknowledged-tip records the journals are
	// compared with; nil means the tip record files of st's data
	// directory (store.NewTipFiles). The check only reads them.
	Tips journal.Tips
}

// Progress describes a long check under way.
type Progress struct {
	Ledger string
	// Phase is "journal" while blocks are checked, then "documents" while
	// the stored revision copies are.
	Phase string
	// Done counts the blocks (journal) or stored entries (documents)
	// checked so far; Total is the number expected (blocks in the journal,
	// or document revisions in it), 0 when unknown.
	Done, Total uint64
	// Elapsed is the time spent on the phase so far.
	Elapsed time.Duration
}

// ErrNoLedger is returned (wrapped) by Run when Options.Ledger names no
// ledger of the catalogue.
var ErrNoLedger = errors.New("verify: no such ledger")

// The checks a Failure can name.
const (
	CheckMeta          = "meta"           // the ledger's meta entry: its strand id, and what an import recorded
	CheckSequence      = "sequence"       // a block missing or stored under another number
	CheckBlock         = "block"          // a block that does not decode or whose own hashes are wrong
	CheckChain         = "chain"          // previousBlockHash is not the previous block's hash
	CheckTree          = "tree"           // a stored ledger tree node or the stored root
	CheckHistory       = "history"        // an h/ entry (every revision)
	CheckLatest        = "latest"         // a d/ entry (latest live revision)
	CheckRevisionBlock = "revision-block" // an r/ entry (revision to block)
	CheckStorage       = "storage"        // stored data that cannot be read: on-disk corruption (store.IsCorruption)
	CheckTip           = "tip"            // the journal is shorter than (or differs from) its acknowledged-tip record
)

// Failure is a failed check. Block is the sequence number of the block
// concerned when HasBlock is set: the first bad block of the journal, the
// block that completes a bad tree node, or the block whose revision a bad
// stored copy should equal.
type Failure struct {
	Ledger   string
	Block    uint64
	HasBlock bool
	Check    string // one of the Check constants
	Key      string // the stored key concerned, relative to the ledger ("" if none)
	Err      error  // what failed
}

// Error implements error.
func (f *Failure) Error() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "ledger %s", f.Ledger)
	if f.HasBlock {
		fmt.Fprintf(&b, ": block %d", f.Block)
	}
	fmt.Fprintf(&b, ": %s check failed", f.Check)
	if f.Key != "" {
		fmt.Fprintf(&b, " (key %s)", f.Key)
	}
	fmt.Fprintf(&b, ": %v", f.Err)
	return b.String()
}

// Unwrap returns Err.
func (f *Failure) Unwrap() error { return f.Err }

// LedgerReport is the outcome for one ledger.
type LedgerReport struct {
	Name, ID, StrandID string
	// Blocks is the number of journal blocks checked; Revisions the
	// number of document revisions they hold.
	Blocks, Revisions uint64
	// History, Latest and RevisionBlocks count the stored h/, d/ and r/
	// entries checked.
	History, Latest, RevisionBlocks uint64
	// Digest is the ledger digest at the tip (block Blocks-1) as
	// recomputed; nil for an empty journal or when the journal failed.
	Digest []byte
	// JournalTime and DocumentsTime are the durations of the two phases.
	JournalTime, DocumentsTime time.Duration
	// Failure is the failed check with the lowest block number (nil when
	// everything holds); Failures counts the failed checks found. The
	// journal phase stops at its first failure and then skips the
	// documents phase.
	Failure  *Failure
	Failures int
}

// Report is the outcome of Run, one entry per ledger checked, in name order.
type Report struct {
	Ledgers []LedgerReport
}

// OK reports whether every check of every ledger passed.
func (r *Report) OK() bool { return r.FirstFailure() == nil }

// FirstFailure returns the failure of the first failing ledger, or nil.
func (r *Report) FirstFailure() *Failure {
	for i := range r.Ledgers {
		if f := r.Ledgers[i].Failure; f != nil {
			return f
		}
	}
	return nil
}

// Run checks the ledgers of st. Verification failures are in the report;
// the error is for what stopped the check itself (a storage error, an
// unreadable catalogue, ErrNoLedger). st must not be written meanwhile: open
// it offline, as strand verify does.
func Run(st store.Store, opts Options) (*Report, error) {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.ProgressEvery <= 0 {
		opts.ProgressEvery = time.Second
	}
	if opts.Tips == nil {
		opts.Tips = store.NewTipFiles(st.Dir())
	}
	cat, err := ledger.Open(st, ledger.Options{})
	if err != nil {
		return nil, fmt.Errorf("verify: ledger catalogue: %w", err)
	}
	names := cat.Names()
	if opts.Ledger != "" {
		names = []string{opts.Ledger}
	}
	rep := &Report{}
	for _, name := range names {
		l, err := cat.Describe(name)
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrNoLedger, name)
		}
		lr, err := checkLedger(st, l, opts)
		if store.IsCorruption(err) {
			// Damage outside the journal's blocks (which the journal
			// phase reports by block): report it and go on with the
			// other ledgers.
			r := &ledgerRun{rep: &lr}
			r.fail(&Failure{Check: CheckStorage, Err: corruption(err)})
			err = nil
		}
		if err != nil {
			return nil, fmt.Errorf("verify: ledger %s: %w", name, err)
		}
		rep.Ledgers = append(rep.Ledgers, lr)
	}
	if opts.Ledger == "" {
		if err := orphans(cat, opts.Tips, rep); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// orphans adds a failed entry for every tip record whose ledger is not in
// the catalogue (journal.OrphanTip): a ledger the catalogue may have lost.
func orphans(cat *ledger.Catalog, tips journal.Tips, rep *Report) error {
	found, err := journal.OrphanTips(tips, cat.IDs())
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	for _, o := range found {
		lr := LedgerReport{Name: "(id " + o.LedgerID + ")", ID: o.LedgerID}
		r := &ledgerRun{rep: &lr}
		r.fail(&Failure{Check: CheckTip, Err: errors.New(o.Detail())})
		rep.Ledgers = append(rep.Ledgers, lr)
	}
	return nil
}

// corruption shortens a store corruption error to its first line, for
// the report.
func corruption(err error) error {
	return fmt.Errorf("the stored data cannot be read, it is damaged on disk: %s", store.FirstLine(err))
}

// ledgerRun is the state of one ledger's check.
type ledgerRun struct {
	st       store.Store
	opts     Options
	keys     keys
	rep      *LedgerReport
	idx      *revIndex
	imported *importedMeta // from the meta entry; nil unless the ledger was imported
}

// ledgerMeta is the ledger's meta entry as the txn package writes it.
type ledgerMeta struct {
	StrandID string        `json:"strandId"`
	Imported *importedMeta `json:"imported"`
}

// importedMeta is what an import of a QLDB export records: blocks
// 0..Blocks-1 came from the export, and the version it left each table's
// catalogue entry at. The entry is not covered by any hash, so the audit
// can only check it against the journal and the catalogue: the imported
// blocks must exist, and each table it names must have a catalogue entry
// no older than that version (rebuild-derived relies on both).
type importedMeta struct {
	Blocks uint64            `json:"blocks"`
	Tables map[string]uint64 `json:"tables"`
}

// decodeMeta decodes a meta entry strictly: unknown fields, a missing
// strand id or an imported record without tables are refused.
func decodeMeta(raw []byte) (*ledgerMeta, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var m ledgerMeta
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the entry")
	}
	if m.StrandID == "" {
		return nil, fmt.Errorf("no strand id")
	}
	if m.Imported != nil && m.Imported.Tables == nil {
		return nil, fmt.Errorf("an imported record without tables")
	}
	return &m, nil
}

// fail records a failure, keeping the one with the lowest block.
func (r *ledgerRun) fail(f *Failure) {
	f.Ledger = r.rep.Name
	r.rep.Failures++
	cur := r.rep.Failure
	if cur == nil || (f.HasBlock && (!cur.HasBlock || f.Block < cur.Block)) {
		r.rep.Failure = f
	}
}

func (r *ledgerRun) failAt(check string, seq uint64, hasBlock bool, key []byte, format string, args ...any) {
	f := &Failure{Check: check, Block: seq, HasBlock: hasBlock, Err: fmt.Errorf(format, args...)}
	if key != nil {
		f.Key = printable(r.keys.prefix, key)
	}
	r.fail(f)
}

func checkLedger(st store.Store, l ledger.Entry, opts Options) (LedgerReport, error) {
	rep := LedgerReport{Name: l.Name, ID: l.ID}
	r := &ledgerRun{st: st, opts: opts, keys: newKeys(l.ID), rep: &rep, idx: newRevIndex()}
	raw, ok, err := st.Get(r.keys.meta)
	if err != nil {
		return rep, err
	}
	if ok {
		meta, err := decodeMeta(raw)
		if err != nil {
			r.failAt(CheckMeta, 0, false, r.keys.meta, "the ledger's meta entry is unreadable (%v): %q", err, raw)
			return rep, nil
		}
		rep.StrandID = meta.StrandID
		r.imported = meta.Imported
	}
	start := time.Now()
	if err := r.journal(); err != nil {
		return rep, err
	}
	rep.JournalTime = time.Since(start)
	if err := r.tip(l.ID); err != nil {
		return rep, err
	}
	if rep.Failure != nil {
		return rep, nil
	}
	if im := r.imported; im != nil && (im.Blocks == 0 || im.Blocks > rep.Blocks) {
		r.failAt(CheckMeta, 0, false, r.keys.meta, "the ledger's meta entry records an import of %d blocks, but the journal has %d", im.Blocks, rep.Blocks)
		return rep, nil
	}
	start = time.Now()
	err = r.documents()
	if err == nil && rep.Failure == nil {
		err = r.catalogue()
	}
	rep.DocumentsTime = time.Since(start)
	return rep, err
}

// tip compares the journal with the ledger's acknowledged-tip record: a
// journal shorter than what was acknowledged is a failure at its first
// missing block, naming the whole missing range.
func (r *ledgerRun) tip(ledgerID string) error {
	loss, err := journal.CheckJournal(r.st, r.opts.Tips, ledgerID, r.rep.Name)
	if err != nil || loss == nil {
		return err
	}
	switch {
	case loss.Corrupt != nil:
		r.failAt(CheckTip, loss.JournalNext, false, nil, "%s", loss.Detail())
	case loss.HashMismatch:
		r.failAt(CheckTip, loss.AckedNext-1, true, nil, "%s", loss.Detail())
	default:
		r.failAt(CheckTip, loss.JournalNext, true, nil, "%s", loss.Detail())
	}
	return nil
}

// progress calls the Progress callback when one is due.
type progress struct {
	r     *ledgerRun
	phase string
	total uint64
	start time.Time
	last  time.Time
}

func (r *ledgerRun) newProgress(phase string, total uint64) *progress {
	now := time.Now()
	return &progress{r: r, phase: phase, total: total, start: now, last: now}
}

// tick reports done when a report is due; cheap enough to call per item
// every few hundred items.
func (p *progress) tick(done uint64) {
	if p.r.opts.Progress == nil {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < p.r.opts.ProgressEvery {
		return
	}
	p.last = now
	p.r.opts.Progress(Progress{Ledger: p.r.rep.Name, Phase: p.phase, Done: done, Total: p.total, Elapsed: now.Sub(p.start)})
}

// safeRevisionHash is journal.RevisionHash without its panic on values that
// cannot be hashed; a redacted revision hashes by its dataHash.
func safeRevisionHash(rev journal.Revision) (h []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("cannot hash the revision: %v", p)
		}
	}()
	return rev.Rehash()
}
