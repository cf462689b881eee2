package txn

import (
	"context"
	"regexp"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/qldberr"
)

// The verification reads (reference §4): GetDigest, GetBlock and
// GetRevision. Addresses arrive as Ion text and are parsed as Ion, never by
// pattern; proofs are lists of 32-byte hashes that fold with qldbhash.Dot,
// from the leaf (the blockHash or the revision hash) to the digest at the
// given tip. Every check and every proof step lives here; package api only
// decodes the request and encodes the answer.

// MaxIonText is the model's length limit of ValueHolder.IonText.
const MaxIonText = 12800

// documentIDPattern is the model's UniqueId: 22 characters.
var documentIDPattern = regexp.MustCompile(`^[A-Za-z0-9-]{22}$`)

// Digest is GetDigest's answer.
type Digest struct {
	Digest     []byte // the ledger-tree root at the tip
	TipIonText string // the tip's block address, Ion text
}

// Proved is GetBlock's or GetRevision's answer: the value as Ion text and,
// when a digest tip was given, its proof (HasProof; Proof may then be empty,
// for a leaf that is the root).
type Proved struct {
	IonText  string
	HasProof bool
	Proof    [][]byte
}

// GetDigest returns the ledger-tree root over every block of an ACTIVE
// ledger and the address of the newest block. A ledger without blocks has
// no digest (see docs/compatibility.md): ResourcePreconditionNotMetException.
// ctx is accepted for the blocking-call convention; the reads are local.
func (e *Engine) GetDigest(ctx context.Context, ledgerName string) (Digest, error) {
	l, err := e.Ledger(ledgerName)
	if err != nil {
		return Digest{}, err
	}
	tip, _, ok := l.Tip()
	if !ok {
		return Digest{}, qldberr.Precondition("LEDGER", ledgerName, "Ledger %s has no journal blocks yet, so it has no digest: commit a transaction first", ledgerName)
	}
	digest, err := l.Digest(tip.SequenceNo)
	if err != nil {
		return Digest{}, err
	}
	return Digest{Digest: digest, TipIonText: ionvalue.MarshalText(tip.Ion())}, nil
}

// GetBlock returns the block at blockAddress (Ion text of a block address)
// in QLDB's GetBlock Ion shape and, when digestTip is not nil, the
// ledger-tree proof of its blockHash at that tip. Bad addresses are
// InvalidParameterException naming BlockAddress or DigestTipAddress; an
// empty address text counts as missing.
func (e *Engine) GetBlock(ctx context.Context, ledgerName, blockAddress string, digestTip *string) (Proved, error) {
	l, err := e.Ledger(ledgerName)
	if err != nil {
		return Proved{}, err
	}
	b, err := blockAt(l, blockAddress)
	if err != nil {
		return Proved{}, err
	}
	out := Proved{IonText: ionvalue.MarshalText(b.Ion())}
	if digestTip != nil {
		proof, err := ledgerProof(l, b.Address.SequenceNo, *digestTip)
		if err != nil {
			return Proved{}, err
		}
		out.HasProof, out.Proof = true, proof
	}
	return out, nil
}

// GetRevision returns the revision the block at blockAddress wrote for
// document docID, in the committed-view shape {blockAddress, hash, data,
// metadata}, and, when digestTip is not nil, its proof
// (journal.RevisionProof). docID is checked before the ledger is looked up.
func (e *Engine) GetRevision(ctx context.Context, ledgerName, blockAddress, docID string, digestTip *string) (Proved, error) {
	if docID == "" {
		return Proved{}, qldberr.Invalid("DocumentId", "DocumentId is required")
	}
	if !documentIDPattern.MatchString(docID) {
		return Proved{}, qldberr.Invalid("DocumentId", "DocumentId %q is not a document id: 22 letters, digits or hyphens", docID)
	}
	l, err := e.Ledger(ledgerName)
	if err != nil {
		return Proved{}, err
	}
	b, err := blockAt(l, blockAddress)
	if err != nil {
		return Proved{}, err
	}
	i, ok := b.DocumentRevision(docID)
	if !ok {
		return Proved{}, qldberr.Invalid("DocumentId", "Block %d of ledger %s holds no revision of document %s", b.Address.SequenceNo, ledgerName, docID)
	}
	out := Proved{IonText: ionvalue.MarshalText(b.Revisions[i].Ion(b.Address))}
	if digestTip != nil {
		lp, err := ledgerProof(l, b.Address.SequenceNo, *digestTip)
		if err != nil {
			return Proved{}, err
		}
		proof, err := journal.RevisionProof(b, i, lp)
		if err != nil {
			return Proved{}, err // a stored block that fails verification: internal
		}
		out.HasProof, out.Proof = true, proof
	}
	return out, nil
}

// parseAddress reads a block address sent as Ion text in member param and
// checks that it names l's strand and a block that exists.
func parseAddress(l *LedgerEngine, param, text string) (journal.BlockAddress, error) {
	if text == "" {
		return journal.BlockAddress{}, qldberr.Invalid(param, "%s.IonText is required", param)
	}
	if len(text) > MaxIonText {
		return journal.BlockAddress{}, qldberr.Invalid(param, "%s.IonText is longer than %d characters", param, MaxIonText)
	}
	v, err := ionvalue.DecodeOne([]byte(text))
	if err != nil {
		return journal.BlockAddress{}, qldberr.Invalid(param, "%s.IonText is not a single Ion value: %v", param, err)
	}
	a, err := journal.AddressFromIon(v)
	if err != nil {
		return journal.BlockAddress{}, qldberr.Invalid(param, "%s.IonText is not a block address {strandId:\"...\",sequenceNo:N}: %v", param, err)
	}
	if a.StrandID != l.StrandID {
		return journal.BlockAddress{}, qldberr.Invalid(param, "%s names strand %q, but ledger %s has the single strand %q", param, a.StrandID, l.Name, l.StrandID)
	}
	if next := l.Next(); a.SequenceNo >= next {
		if next == 0 {
			return journal.BlockAddress{}, qldberr.Invalid(param, "%s names block %d, but ledger %s has no blocks yet", param, a.SequenceNo, l.Name)
		}
		return journal.BlockAddress{}, qldberr.Invalid(param, "%s names block %d, but the newest block of ledger %s is %d", param, a.SequenceNo, l.Name, next-1)
	}
	return a, nil
}

// blockAt reads the block named by the BlockAddress member.
func blockAt(l *LedgerEngine, text string) (*journal.Block, error) {
	a, err := parseAddress(l, "BlockAddress", text)
	if err != nil {
		return nil, err
	}
	b, ok, err := l.Block(a.SequenceNo)
	if err != nil {
		return nil, err
	}
	if !ok { // below Next, so durable: storage lost it
		return nil, qldberr.Invalid("BlockAddress", "Block %d of ledger %s does not exist", a.SequenceNo, l.Name)
	}
	return b, nil
}

// ledgerProof returns the ledger-tree proof of block seq at the tip named by
// the DigestTipAddress member, which must not be older than the block.
func ledgerProof(l *LedgerEngine, seq uint64, tipText string) ([][]byte, error) {
	tip, err := parseAddress(l, "DigestTipAddress", tipText)
	if err != nil {
		return nil, err
	}
	if tip.SequenceNo < seq {
		return nil, qldberr.Invalid("DigestTipAddress", "DigestTipAddress (block %d) is older than the requested block %d: ask for a digest at or after the block", tip.SequenceNo, seq)
	}
	return l.BlockProof(seq, tip.SequenceNo)
}
