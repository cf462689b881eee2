package journal

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/strand-db/strand/internal/store"
)

// Tips is where the committer records each ledger's acknowledged tip
// outside the store's own write-ahead log, so that a journal cut short by a
// damaged log is detected instead of served (see docs/operations.md,
// "Acknowledged tip records"). *store.TipFiles implements it for the
// embedded Pebble store. A store whose own commit is the authority (one
// that cannot lose a suffix of acknowledged commits without failing loudly)
// passes no Tips (Open with nil Tips; txn.Options.Tips nil): the record
// and the check are off.
//
// Group.Commit is the writer: after each group's batch is durable in the
// store and before any transaction of the group is acknowledged, so a
// record never claims a block the store has not made durable. The only
// other writes bring a record to the journal's tip: Open, with a record
// that is missing or behind (before any append), and AcceptJournalLoss
// (offline). Record is never
// called concurrently for one ledger.
type Tips interface {
	// Load returns a ledger's newest record; ok is false when it has none.
	// An error wrapping store.ErrTipRecordCorrupt means a record exists
	// but cannot be read.
	Load(ledgerID string) (rec store.TipRecord, ok bool, err error)
	// Record makes rec durable before it returns.
	Record(rec store.TipRecord) error
	// Remove deletes a ledger's record.
	Remove(ledgerID string) error
	// LedgerIDs lists the ledgers that have a record.
	LedgerIDs() ([]string, error)
}

// OrphanTip is a tip record whose ledger is not in the catalogue. Either
// the ledger was deleted and the process stopped between removing its data
// and its record (a harmless leftover), or the catalogue lost the ledger
// with the store's newest writes (a damaged write-ahead log moved aside):
// Strand cannot tell which, so it reports it instead of guessing.
type OrphanTip struct {
	LedgerID string
	Record   store.TipRecord // zero when the record is unreadable
	Err      error           // the record could not be read
}

// Detail describes the orphan for logs and reports.
func (o OrphanTip) Detail() string {
	acked := fmt.Sprintf("blocks up to %d were acknowledged", int64(o.Record.Next)-1)
	if o.Err != nil {
		acked = "its record is unreadable"
	}
	return fmt.Sprintf("ledger id %s has an acknowledged-tip record (%s) but is not in the ledger catalogue: "+
		"either it was deleted and the server stopped before removing the record (remove tips/%s.tip), "+
		"or the catalogue lost the ledger with damaged storage (restore the data directory from a backup)",
		o.LedgerID, acked, o.LedgerID)
}

// OrphanTips returns the tip records of ledger ids that are not in known
// (the ids of every ledger in the catalogue).
func OrphanTips(tips Tips, known map[string]bool) ([]OrphanTip, error) {
	ids, err := tips.LedgerIDs()
	if err != nil {
		return nil, err
	}
	var out []OrphanTip
	for _, id := range ids {
		if known[id] {
			continue
		}
		rec, _, err := tips.Load(id)
		out = append(out, OrphanTip{LedgerID: id, Record: rec, Err: err})
	}
	return out, nil
}

// JournalLoss describes a ledger whose journal in the store is not the one
// that was acknowledged: shorter than its tip record, holding another block
// at the recorded tip, or with an unreadable tip record. Such a ledger is
// refused until an operator accepts the loss (AcceptJournalLoss, `strand
// repair accept-journal-loss`).
type JournalLoss struct {
	Ledger string
	// JournalNext is the number of blocks in the journal; AckedNext the
	// number acknowledged according to the tip record.
	JournalNext, AckedNext uint64
	// HashMismatch is set when the journal holds block AckedNext-1 but its
	// hash is not the recorded one.
	HashMismatch bool
	// Corrupt is set when the tip record could not be read; the other
	// fields are then unknown (JournalNext excepted).
	Corrupt error
}

// Missing returns the sequence numbers of the blocks that were acknowledged
// but are not in the journal: [from, to], n of them (n is 0 when none are
// missing but the record cannot be trusted or the hash differs).
func (e *JournalLoss) Missing() (from, to, n uint64) {
	if e.Corrupt != nil || e.AckedNext <= e.JournalNext {
		return 0, 0, 0
	}
	return e.JournalNext, e.AckedNext - 1, e.AckedNext - e.JournalNext
}

// Error names the ledger and what is missing.
func (e *JournalLoss) Error() string { return "ledger " + e.Ledger + ": " + e.Detail() }

// Detail is Error without the ledger's name.
func (e *JournalLoss) Detail() string {
	ends := "journal is empty"
	if e.JournalNext > 0 {
		ends = fmt.Sprintf("journal ends at block %d", e.JournalNext-1)
	}
	switch {
	case e.Corrupt != nil:
		return fmt.Sprintf("%s but its acknowledged-tip record is unreadable (%v): cannot tell whether acknowledged blocks were lost", ends, e.Corrupt)
	case e.HashMismatch:
		return fmt.Sprintf("block %d of the journal is not the block that was acknowledged as block %d (missing, or its hash differs from the acknowledged-tip record)", e.AckedNext-1, e.AckedNext-1)
	}
	from, to, n := e.Missing()
	return fmt.Sprintf("%s but blocks up to %d were acknowledged; blocks %d–%d (%d blocks) are missing", ends, e.AckedNext-1, from, to, n)
}

// compareTip checks the journal (next blocks, newest hash lastHash) against
// the ledger's tip record. It returns a *JournalLoss when they disagree,
// and whether the record is missing or behind the journal and should be
// rewritten to the journal's tip (a new ledger, a data directory from a
// version without tip records, or a crash after the store made a group
// durable but before its record was written: those blocks were never
// acknowledged, and are kept, as PostgreSQL keeps a commit whose
// acknowledgement was lost).
func compareTip(tips Tips, id, name string, next uint64, lastHash []byte, blockHash func(uint64) ([]byte, bool, error)) (loss *JournalLoss, rewrite bool, err error) {
	rec, ok, err := tips.Load(id)
	if errors.Is(err, store.ErrTipRecordCorrupt) {
		return &JournalLoss{Ledger: name, JournalNext: next, Corrupt: err}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("journal: ledger %s: %w", name, err)
	}
	if !ok {
		return nil, true, nil
	}
	if rec.Next > next {
		return &JournalLoss{Ledger: name, JournalNext: next, AckedNext: rec.Next}, false, nil
	}
	if rec.Next == 0 {
		return nil, next > 0, nil
	}
	h := lastHash
	if rec.Next < next {
		var found bool
		h, found, err = blockHash(rec.Next - 1)
		if err != nil {
			return nil, false, fmt.Errorf("journal: ledger %s: %w", name, err)
		}
		if !found {
			// A hole below the tip: the verifier names it; here it is
			// a journal that lost an acknowledged block.
			return &JournalLoss{Ledger: name, JournalNext: next, AckedNext: rec.Next, HashMismatch: true}, false, nil
		}
	}
	if !bytes.Equal(h, rec.Hash) {
		return &JournalLoss{Ledger: name, JournalNext: next, AckedNext: rec.Next, HashMismatch: true}, false, nil
	}
	return nil, rec.Next < next, nil
}

// newestBlock reads the newest block of a ledger's journal; nil for an
// empty journal.
func newestBlock(st store.Store, lay Layout) (*Block, error) {
	var b *Block
	var decodeErr error
	err := st.ScanReverse(lay.Blocks, store.PrefixEnd(lay.Blocks), func(_, v []byte) bool {
		b, decodeErr = DecodeBlock(v)
		return false
	})
	if err == nil {
		err = decodeErr
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// journalTip reads the number of blocks of a ledger's journal and the hash
// of the newest one.
func journalTip(st store.Store, lay Layout) (next uint64, hash []byte, err error) {
	b, err := newestBlock(st, lay)
	if err != nil || b == nil {
		return 0, nil, err
	}
	return b.Address.SequenceNo + 1, b.BlockHash, nil
}

// storedBlockHash returns the hash of a stored block.
func storedBlockHash(st store.Store, lay Layout) func(uint64) ([]byte, bool, error) {
	return func(seq uint64) ([]byte, bool, error) {
		raw, ok, err := st.Get(lay.Block(seq))
		if err != nil || !ok {
			return nil, ok, err
		}
		b, err := DecodeBlock(raw)
		if err != nil {
			return nil, false, err
		}
		return b.BlockHash, true, nil
	}
}

// CheckJournal compares a ledger's journal in st with its tip record, for
// offline tools (strand verify): it returns a *JournalLoss when the journal
// is not the one acknowledged, nil when it is or when the ledger has no tip
// record. It writes nothing.
func CheckJournal(st store.Store, tips Tips, ledgerID, name string) (*JournalLoss, error) {
	lay := LedgerLayout(ledgerID)
	next, hash, err := journalTip(st, lay)
	if err != nil {
		return nil, fmt.Errorf("journal: ledger %s tip: %w", name, err)
	}
	loss, _, err := compareTip(tips, ledgerID, name, next, hash, storedBlockHash(st, lay))
	return loss, err
}

// AcceptJournalLoss is the operator's decision to serve a ledger whose
// journal is shorter than (or differs from) what was acknowledged: it
// rewrites the tip record to the journal's tip and returns the loss it
// accepted, or nil (writing nothing) when there was none. The store must be
// opened offline.
func AcceptJournalLoss(st store.Store, tips Tips, ledgerID, name string) (*JournalLoss, error) {
	loss, err := CheckJournal(st, tips, ledgerID, name)
	if err != nil || loss == nil {
		return nil, err
	}
	next, hash, err := journalTip(st, LedgerLayout(ledgerID))
	if err != nil {
		return nil, fmt.Errorf("journal: ledger %s tip: %w", name, err)
	}
	if err := tips.Record(store.TipRecord{LedgerID: ledgerID, Next: next, Hash: hash}); err != nil {
		return nil, fmt.Errorf("journal: ledger %s: %w", name, err)
	}
	return loss, nil
}
