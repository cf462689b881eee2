package api

import (
	"net/http"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/txn"
)

// The verification APIs (reference §4): GetDigest, GetBlock and GetRevision,
// rest-json under /ledgers/{name}/. Addresses travel as Ion text in a
// ValueHolder; the engine (txn.Engine.GetBlock and friends) parses and
// checks them and composes the proofs, which are rendered here as Ion lists
// of 32-byte blobs.

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

func textHolder(s string) ionHolder { return ionHolder{IonText: &s} }

// text returns a holder's Ion text; a missing holder or text is "" (the
// engine reports it as missing).
func (h *ionHolder) text() string {
	if h == nil || h.IonText == nil {
		return ""
	}
	return *h.IonText
}

// optText is the text of an optional holder: nil when the member is absent.
func optText(h *ionHolder) *string {
	if h == nil {
		return nil
	}
	t := h.text()
	return &t
}

// getDigest answers GetDigest (txn.Engine.GetDigest).
func (s *Handler) getDigest(r *http.Request, p []string, _ []byte) (any, error) {
	d, err := s.opts.Sessions.GetDigest(r.Context(), p[0])
	if err != nil {
		return nil, err
	}
	return getDigestResponse{Digest: d.Digest, DigestTipAddress: textHolder(d.TipIonText)}, nil
}

// getBlock answers GetBlock (txn.Engine.GetBlock).
func (s *Handler) getBlock(r *http.Request, p []string, body []byte) (any, error) {
	var in getBlockRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	b, err := s.opts.Sessions.GetBlock(r.Context(), p[0], in.BlockAddress.text(), optText(in.DigestTipAddress))
	if err != nil {
		return nil, err
	}
	return getBlockResponse{Block: textHolder(b.IonText), Proof: proofHolder(b)}, nil
}

// getRevision answers GetRevision (txn.Engine.GetRevision).
func (s *Handler) getRevision(r *http.Request, p []string, body []byte) (any, error) {
	var in getRevisionRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	docID := ""
	if in.DocumentId != nil {
		docID = *in.DocumentId
	}
	rev, err := s.opts.Sessions.GetRevision(r.Context(), p[0], in.BlockAddress.text(), docID, optText(in.DigestTipAddress))
	if err != nil {
		return nil, err
	}
	return getRevisionResponse{Revision: textHolder(rev.IonText), Proof: proofHolder(rev)}, nil
}

// proofHolder renders a proof as QLDB does: an Ion list of blobs; nil
// when no tip was asked for.
func proofHolder(v txn.Proved) *ionHolder {
	if !v.HasProof {
		return nil
	}
	elems := make([]*ionvalue.Value, len(v.Proof))
	for i, h := range v.Proof {
		elems[i] = ionvalue.Blob(h)
	}
	h := textHolder(ionvalue.MarshalText(ionvalue.List(elems...)))
	return &h
}
