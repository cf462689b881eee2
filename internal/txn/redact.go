package txn

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/partiql"
	"github.com/strand-db/strand/internal/qldberr"
)

// Redaction (EXEC redact_revision, see journal/redact.go). The statement
// checks QLDB's rules against the committed journal and records the target;
// the commit writes the block with redactionInfo, rewrites the target's
// stored block (data replaced by dataHash) and its history entry. The
// document's live revision (d/), its index entries and the hash chain are
// untouched: a redactable revision is never the live one.
//
// QLDB's rules, as Strand applies them:
//   - one redaction per transaction (QLDB's quota);
//   - the revision must exist: the block address names a committed block of
//     this ledger's strand that wrote a revision of that document in that
//     table;
//   - it must not be the document's latest revision (QLDB: only inactive
//     revisions can be redacted), nor a deletion (no data), nor already
//     redacted;
//   - the table must be active (UNCONFIRMED: QLDB's documentation does not
//     say; Strand asks for UNDROP TABLE first, as for any other write).
//
// For OCC, the statement reads, and the commit writes, one item per
// revision: of two transactions redacting the same revision concurrently,
// the second to commit gets an OCC conflict.

// redactKey names a revision in the OCC document maps. Document ids never
// contain NUL.
func redactKey(docID string, version uint64) string {
	return "\x00redact/" + docID + "/" + strconv.FormatUint(version, 10)
}

// redactErr is the client's error for a refused redaction.
func redactErr(format string, args ...any) error {
	return &partiql.Error{Code: partiql.CodeEvaluation, Message: "Evaluation Error: redact_revision: " + fmt.Sprintf(format, args...)}
}

var _ partiql.Redactor = (*Transaction)(nil)

// RedactRevision implements partiql.Redactor.
func (t *Transaction) RedactRevision(strandID string, seq uint64, tableID, docID string) (uint64, error) {
	if t.redaction != nil {
		return 0, qldberr.New(qldberr.LimitExceeded, "Transaction %s already redacts a revision: QLDB allows one redaction per transaction", t.ID)
	}
	if strandID != t.ledger.StrandID {
		return 0, redactErr("block address strand %s is not the strand of ledger %s", qldberr.Clip(strandID), t.ledger.Name)
	}
	readSeq := t.readSeq()
	tm, ok := t.lookupTable(tableID)
	if !ok {
		return 0, redactErr("no table with id %s", qldberr.Clip(tableID))
	}
	note(&t.reads.tables, tableID, readSeq)
	if !tm.Active {
		return 0, redactErr("table %s (id %s) is dropped; undrop it first (UNDROP TABLE \"%s\")", tm.Name, tm.ID, tm.ID)
	}
	if seq >= readSeq {
		return 0, redactErr("there is no block %d in the journal (it has %d blocks)", seq, readSeq)
	}
	b, ok, err := t.ledger.Block(seq)
	if err != nil {
		return 0, fmt.Errorf("txn: redact: %w", err)
	}
	if !ok {
		return 0, redactErr("there is no block %d in the journal", seq)
	}
	i, err := journal.FindRedactable(b, tableID, docID)
	switch {
	case errors.Is(err, journal.ErrNoRevision):
		return 0, redactErr("block %d wrote no revision of document %s in table %s", seq, qldberr.Clip(docID), tableID)
	case errors.Is(err, journal.ErrAlreadyRedacted):
		return 0, redactErr("version %d of document %s is already redacted", b.Revisions[i].Metadata.Version, docID)
	case errors.Is(err, journal.ErrDeletionRevision):
		return 0, redactErr("version %d of document %s is its deletion, which holds no data to redact", b.Revisions[i].Metadata.Version, docID)
	case err != nil:
		return 0, fmt.Errorf("txn: redact: %w", err)
	}
	version := b.Revisions[i].Metadata.Version
	note(&t.reads.docs, redactKey(docID, version), readSeq)
	if _, later, err := t.ledger.RevisionBlock(docID, version+1); err != nil {
		return 0, fmt.Errorf("txn: redact: %w", err)
	} else if !later {
		return 0, redactErr("version %d is the latest revision of document %s; only an earlier (inactive) revision can be redacted", version, docID)
	}
	t.redaction = &journal.RedactionTarget{Block: b.Address, TableID: tableID, DocumentID: docID, Version: version}
	return version, nil
}

// buildRedaction adds t's redaction, if any, to block b being built: its
// redactionInfo (before b is sealed), the rewrite of the target block and
// the target's history entry (queued with addOp and set, so that nothing
// is written when building fails before the queued writes run) and the OCC
// item.
func (l *LedgerEngine) buildRedaction(t *Transaction, b *journal.Block, g *groupState, ws *writeSet,
	addOp func(func() error), set func(k, v []byte)) error {
	r := t.redaction
	if r == nil {
		return nil
	}
	rev, write, err := g.log.RedactStored(*r)
	if err != nil {
		// The statement checked the same rules and OCC guards against a
		// concurrent redaction: this is not a client error.
		return fmt.Errorf("txn: redact: %w", err)
	}
	hist, err := journal.EncodeRevision(rev, r.Block)
	if err != nil {
		return fmt.Errorf("txn: redact: encode revision: %w", err)
	}
	addOp(write)
	set(l.keys.revision(r.TableID, r.DocumentID, r.Version), hist)
	b.RedactionInfo = journal.RedactionInfo(*r)
	ws.docs = append(ws.docs, redactKey(r.DocumentID, r.Version))
	return nil
}
