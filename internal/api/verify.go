package api

import (
	"net/http"
	"regexp"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/txn"
)

// The verification APIs (reference §4): GetDigest, GetBlock and GetRevision,
// rest-json under /ledgers/{name}/. Addresses travel as Ion text in a
// ValueHolder and are parsed as Ion, never by pattern. Proofs are Ion lists
// of 32-byte blobs that fold with qldbhash.Dot, from the leaf (blockHash or
// the revision hash), to the digest at the given tip.

// ionHolder is the control plane's ValueHolder: only IonText exists there
// (the session API's valueHolder also has IonBinary).
type ionHolder struct {
	IonText *string `json:"IonText"`
}

type getDigestResponse struct {
	Digest           []byte    `json:"Digest"` // base64 in JSON
	DigestTipAddress ionHolder `json:"DigestTipAddress"`
}

type getBlockRequest struct {
	BlockAddress     *ionHolder `json:"BlockAddress"`
	DigestTipAddress *ionHolder `json:"DigestTipAddress"`
}

type getBlockResponse struct {
	Block ionHolder  `json:"Block"`
	Proof *ionHolder `json:"Proof,omitempty"`
}

type getRevisionRequest struct {
	BlockAddress     *ionHolder `json:"BlockAddress"`
	DocumentId       *string    `json:"DocumentId"`
	DigestTipAddress *ionHolder `json:"DigestTipAddress"`
}

type getRevisionResponse struct {
	Revision ionHolder  `json:"Revision"`
	Proof    *ionHolder `json:"Proof,omitempty"`
}

// maxIonText is the model's length limit of ValueHolder.IonText.
const maxIonText = 12800

// documentIDPattern is the model's UniqueId: 22 characters.
var documentIDPattern = regexp.MustCompile(`^[A-Za-z0-9-]{22}$`)

func textHolder(s string) ionHolder { return ionHolder{IonText: &s} }

// getDigest answers GetDigest: the ledger-tree root over every block and the
// address of the newest block. A ledger without blocks has no digest (see
// docs/compatibility.md): ResourcePreconditionNotMetException.
func (s *Server) getDigest(_ *http.Request, p []string, _ []byte) (any, error) {
	l, err := s.opts.Sessions.Ledger(p[0])
	if err != nil {
		return nil, err
	}
	tip, _, ok := l.Tip()
	if !ok {
		return nil, qldberr.Precondition("LEDGER", p[0], "Ledger %s has no journal blocks yet, so it has no digest: commit a transaction first", p[0])
	}
	digest, err := l.Digest(tip.SequenceNo)
	if err != nil {
		return nil, err
	}
	return getDigestResponse{Digest: digest, DigestTipAddress: textHolder(ionvalue.MarshalText(tip.Ion()))}, nil
}

// getBlock answers GetBlock: the block in QLDB's GetBlock Ion shape and,
// when a tip is given, the ledger-tree proof of its blockHash at that tip.
func (s *Server) getBlock(_ *http.Request, p []string, body []byte) (any, error) {
	var in getBlockRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	l, err := s.opts.Sessions.Ledger(p[0])
	if err != nil {
		return nil, err
	}
	b, err := blockAt(l, in.BlockAddress)
	if err != nil {
		return nil, err
	}
	out := getBlockResponse{Block: textHolder(ionvalue.MarshalText(b.Ion()))}
	if in.DigestTipAddress != nil {
		proof, err := ledgerProof(l, b.Address.SequenceNo, in.DigestTipAddress)
		if err != nil {
			return nil, err
		}
		out.Proof = proofHolder(proof)
	}
	return out, nil
}

// getRevision answers GetRevision: the revision a block wrote for a
// document, in the committed-view shape {blockAddress, hash, data,
// metadata}, and, when a tip is given, its proof (journal.RevisionProof).
func (s *Server) getRevision(_ *http.Request, p []string, body []byte) (any, error) {
	var in getRevisionRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	if in.DocumentId == nil || *in.DocumentId == "" {
		return nil, qldberr.Invalid("DocumentId", "DocumentId is required")
	}
	if !documentIDPattern.MatchString(*in.DocumentId) {
		return nil, qldberr.Invalid("DocumentId", "DocumentId %q is not a document id: 22 letters, digits or hyphens", *in.DocumentId)
	}
	l, err := s.opts.Sessions.Ledger(p[0])
	if err != nil {
		return nil, err
	}
	b, err := blockAt(l, in.BlockAddress)
	if err != nil {
		return nil, err
	}
	i, ok := b.DocumentRevision(*in.DocumentId)
	if !ok {
		return nil, qldberr.Invalid("DocumentId", "Block %d of ledger %s holds no revision of document %s", b.Address.SequenceNo, p[0], *in.DocumentId)
	}
	out := getRevisionResponse{Revision: textHolder(ionvalue.MarshalText(b.Revisions[i].Ion(b.Address)))}
	if in.DigestTipAddress != nil {
		lp, err := ledgerProof(l, b.Address.SequenceNo, in.DigestTipAddress)
		if err != nil {
			return nil, err
		}
		proof, err := journal.RevisionProof(b, i, lp)
		if err != nil {
			return nil, err // a stored block that fails verification: internal
		}
		out.Proof = proofHolder(proof)
	}
	return out, nil
}

// parseAddress reads a block address sent as Ion text in member param and
// checks that it names l's strand and a block that exists.
func parseAddress(l *txn.Ledger, param string, h *ionHolder) (journal.BlockAddress, error) {
	if h == nil || h.IonText == nil || *h.IonText == "" {
		return journal.BlockAddress{}, qldberr.Invalid(param, "%s.IonText is required", param)
	}
	if len(*h.IonText) > maxIonText {
		return journal.BlockAddress{}, qldberr.Invalid(param, "%s.IonText is longer than %d characters", param, maxIonText)
	}
	v, err := ionvalue.DecodeOne([]byte(*h.IonText))
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
func blockAt(l *txn.Ledger, h *ionHolder) (*journal.Block, error) {
	a, err := parseAddress(l, "BlockAddress", h)
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
func ledgerProof(l *txn.Ledger, seq uint64, tipHolder *ionHolder) ([][]byte, error) {
	tip, err := parseAddress(l, "DigestTipAddress", tipHolder)
	if err != nil {
		return nil, err
	}
	if tip.SequenceNo < seq {
		return nil, qldberr.Invalid("DigestTipAddress", "DigestTipAddress (block %d) is older than the requested block %d: ask for a digest at or after the block", tip.SequenceNo, seq)
	}
	return l.BlockProof(seq, tip.SequenceNo)
}

// proofHolder renders a proof as QLDB does: an Ion list of blobs.
func proofHolder(proof [][]byte) *ionHolder {
	elems := make([]*ionvalue.Value, len(proof))
	for i, h := range proof {
		elems[i] = ionvalue.Blob(h)
	}
	h := textHolder(ionvalue.MarshalText(ionvalue.List(elems...)))
	return &h
}
