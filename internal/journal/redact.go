package journal

import (
	"errors"
	"fmt"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/qldbhash"
)

// Redaction (QLDB's EXEC redact_revision) replaces the data of one past
// document revision, in the journal, by its Ion hash: the revision keeps its
// metadata and its hash, which is dot(H(metadata), H(data)) either way, so
// the block's hashes, the ledger digest and every proof stay valid. The
// block of the redacting transaction records what it redacted in its
// redactionInfo (hashed into its entriesHashList).

// RedactionTarget names the revision a redaction removes.
type RedactionTarget struct {
	Block      BlockAddress // the block that wrote the revision
	TableID    string
	DocumentID string
	Version    uint64
}

// Ion is the target as QLDB returned it from EXEC redact_revision and as
// redactionInfo lists it: {blockAddress, tableId, documentId, version}.
func (t RedactionTarget) Ion() *ionvalue.Value {
	return ionvalue.Struct(
		ionvalue.Field{Name: "blockAddress", Value: t.Block.Ion()},
		ionvalue.Field{Name: "tableId", Value: ionvalue.String(t.TableID)},
		ionvalue.Field{Name: "documentId", Value: ionvalue.String(t.DocumentID)},
		ionvalue.Field{Name: "version", Value: ionvalue.Int(int64(t.Version))},
	)
}

// RedactionInfo is the redactionInfo struct of a block that redacted ts:
// {revisions:[target, ...]}.
func RedactionInfo(ts ...RedactionTarget) *ionvalue.Value {
	revs := make([]*ionvalue.Value, len(ts))
	for i, t := range ts {
		revs[i] = t.Ion()
	}
	return ionvalue.Struct(ionvalue.Field{Name: "revisions", Value: ionvalue.List(revs...)})
}

// Errors of FindRedactable; callers turn them into client errors.
var (
	ErrNoRevision       = errors.New("journal: no such revision in the block")
	ErrAlreadyRedacted  = errors.New("journal: revision already redacted")
	ErrDeletionRevision = errors.New("journal: a deletion revision has no data to redact")
)

// FindRedactable returns the index in b.Revisions of the revision of
// document docID in table tableID, checking that it holds data: a
// deletion has none and a redacted revision has none left.
func FindRedactable(b *Block, tableID, docID string) (int, error) {
	for i, r := range b.Revisions {
		if r.IsSystem() || r.Metadata.ID != docID || r.TableID != tableID {
			continue
		}
		switch {
		case r.IsRedacted():
			return i, ErrAlreadyRedacted
		case r.Data == nil:
			return i, ErrDeletionRevision
		}
		return i, nil
	}
	return -1, ErrNoRevision
}

// Redact replaces the data of revision i of b by its hash, in place. The
// block's hashes do not change.
func Redact(b *Block, i int) error {
	r := &b.Revisions[i]
	if r.Data == nil {
		return fmt.Errorf("journal: redact revision %d of block %d: no data", i, b.Address.SequenceNo)
	}
	h, err := qldbhash.HashValue(r.Data)
	if err != nil {
		return fmt.Errorf("journal: redact revision %d of block %d: %w", i, b.Address.SequenceNo, err)
	}
	r.Data, r.DataHash = nil, h
	return nil
}

// RedactStored prepares, for the group's batch, the rewrite of the stored
// block of t.Block with t's revision redacted: it returns that revision as
// redacted and write, which puts the new block into the batch (nothing is
// written before write is called). It reads the block through the batch,
// so of two redactions of one block in one group the second sees the
// first, once its write ran. The ledger tree, the tip and the revision
// lookup do not change: they hold only block hashes and addresses.
func (g *Group) RedactStored(t RedactionTarget) (rev Revision, write func() error, err error) {
	key := g.l.lay.Block(t.Block.SequenceNo)
	raw, ok, err := g.batch.Get(key)
	if err != nil {
		return Revision{}, nil, fmt.Errorf("journal: redact: %w", err)
	}
	if !ok {
		return Revision{}, nil, fmt.Errorf("journal: redact: block %d: %w", t.Block.SequenceNo, ErrNoRevision)
	}
	b, err := DecodeBlock(raw)
	if err != nil {
		return Revision{}, nil, err
	}
	i, err := FindRedactable(b, t.TableID, t.DocumentID)
	if err != nil {
		return Revision{}, nil, err
	}
	if v := b.Revisions[i].Metadata.Version; v != t.Version {
		return Revision{}, nil, fmt.Errorf("journal: redact: block %d holds version %d of %s, not %d", t.Block.SequenceNo, v, t.DocumentID, t.Version)
	}
	if err := Redact(b, i); err != nil {
		return Revision{}, nil, err
	}
	out, err := EncodeBlock(b)
	if err != nil {
		return Revision{}, nil, fmt.Errorf("journal: redact: encode block: %w", err)
	}
	rev = b.Revisions[i]
	return rev, func() error {
		if err := g.batch.Set(key, out); err != nil {
			return fmt.Errorf("journal: batch: %w", err)
		}
		g.redacted = append(g.redacted, t.Block.SequenceNo)
		return nil
	}, nil
}

// Rehash recomputes r's hash from its metadata and its data or, when r is
// redacted, its dataHash: a verifier checks r.Hash against it. It fails on
// data that cannot be hashed and on a dataHash that is not a hash.
func (r Revision) Rehash() ([]byte, error) { return revisionHashOf(r.Data, r.DataHash, r.Metadata) }
