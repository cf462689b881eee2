package journal

import "encoding/binary"

// Key layout of one ledger, under "l/<ledgerID>/":
//
//	meta                                  ledger meta (strand id), JSON
//	b/<seq:8>                             journal block, Ion binary of its GetBlock shape
//	r/<docID>/<version:8>                 block sequence number of a revision (GetRevision)
//	m/<level:1><index:8>                  ledger Merkle tree node over block hashes (digests, proofs)
//	t/<tableID>                           table catalogue entry, JSON (package txn)
//	d/<tableID>/<docID>                   latest live revision, committed-view Ion binary (package txn)
//	x/<tableID>/<sha256(field)><sha256(key)>/<docID>   index entry, empty value (package txn)
//	h/<tableID>/<docID>/<version:8>       every revision, committed-view Ion binary (package txn)
//	lease                                 the ledger's owner lease, JSON (package cluster; shared stores only)
//	fence                                 the owner's fencing token, 8 bytes (package cluster; shared stores only)
//
// Package journal owns the prefix, the journal (b/), the revision lookup
// (r/) and the ledger tree (m/); package txn writes the derived state (t/,
// d/, x/, h/) in the same synced batch as the block. The journal is the
// source of truth: everything else is derived from it.

// Layout is the key layout of one ledger's data: the prefixes under which
// each kind of record is stored (see the table above). Every slice has no
// spare capacity, so appending to it copies.
type Layout struct {
	Prefix         []byte // everything of the ledger
	Meta           []byte // the ledger meta key itself
	Blocks         []byte // b/: blocks by 8-byte sequence number
	Latest         []byte // d/: latest live revision per table and document
	History        []byte // h/: every revision per table, document and 8-byte version
	RevisionBlocks []byte // r/: block sequence number per document and 8-byte version
	Tree           []byte // m/: ledger Merkle tree nodes
	Lease          []byte // the owner lease key (package cluster)
	Fence          []byte // the fencing token key that every owner's write expects (package cluster)
}

// LedgerLayout returns the layout of the ledger with the given catalogue id.
func LedgerLayout(ledgerID string) Layout {
	p := "l/" + ledgerID + "/"
	clip := func(s string) []byte { b := []byte(s); return b[:len(b):len(b)] }
	return Layout{
		Prefix:         clip(p),
		Meta:           clip(p + "meta"),
		Blocks:         clip(p + "b/"),
		Latest:         clip(p + "d/"),
		History:        clip(p + "h/"),
		RevisionBlocks: clip(p + "r/"),
		Tree:           clip(p + "m/"),
		Lease:          clip(p + "lease"),
		Fence:          clip(p + "fence"),
	}
}

// Block returns the key of block seq.
func (l Layout) Block(seq uint64) []byte { return binary.BigEndian.AppendUint64(l.Blocks, seq) }

// RevisionBlock returns the key of the r/ entry of a document's revision.
func (l Layout) RevisionBlock(docID string, version uint64) []byte {
	k := append(append(l.RevisionBlocks, docID...), '/')
	return binary.BigEndian.AppendUint64(k, version)
}
