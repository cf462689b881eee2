package txn

import (
	"crypto/sha256"
	"encoding/binary"
)

// Key layout of one ledger, under "l/<ledgerID>/":
//
//	meta                                  ledger meta (strand id), JSON
//	b/<seq:8>                             journal block, Ion binary of its GetBlock shape
//	t/<tableID>                           table catalogue entry, JSON
//	d/<tableID>/<docID>                   latest live revision, committed-view Ion binary
//	x/<tableID>/<sha256(field)><sha256(key)>/<docID>   index entry (empty value)
//	h/<tableID>/<docID>/<version:8>       every revision, committed-view Ion binary
//	r/<docID>/<version:8>                 block sequence number of a revision (GetRevision)
//	m/<level:1><index:8>                  ledger Merkle tree node over block hashes (digests, proofs)
//
// The journal (b/) is the source of truth; everything else is derived from
// it in the same synced batch as the block.
type keys struct{ prefix []byte }

func newKeys(ledgerID string) keys { return keys{prefix: []byte("l/" + ledgerID + "/")} }

func (k keys) cat(parts ...[]byte) []byte {
	n := len(k.prefix)
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	out = append(out, k.prefix...)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func (k keys) all() []byte             { return k.prefix }
func (k keys) tree() []byte            { return k.cat([]byte("m/")) }
func (k keys) meta() []byte            { return k.cat([]byte("meta")) }
func (k keys) block(seq uint64) []byte { return k.cat([]byte("b/"), u64(seq)) }
func (k keys) blocks() []byte          { return k.cat([]byte("b/")) }
func (k keys) table(id string) []byte  { return k.cat([]byte("t/"), []byte(id)) }
func (k keys) tables() []byte          { return k.cat([]byte("t/")) }
func (k keys) doc(table, id string) []byte {
	return k.cat([]byte("d/"), []byte(table), []byte("/"), []byte(id))
}
func (k keys) docs(table string) []byte    { return k.cat([]byte("d/"), []byte(table), []byte("/")) }
func (k keys) history(table string) []byte { return k.cat([]byte("h/"), []byte(table), []byte("/")) }
func (k keys) docHistory(table, id string) []byte {
	return k.cat([]byte("h/"), []byte(table), []byte("/"), []byte(id), []byte("/"))
}
func (k keys) revision(table, id string, version uint64) []byte {
	return k.cat([]byte("h/"), []byte(table), []byte("/"), []byte(id), []byte("/"), u64(version))
}
func (k keys) revisionBlock(id string, version uint64) []byte {
	return k.cat([]byte("r/"), []byte(id), []byte("/"), u64(version))
}

// indexPrefix is the prefix of every entry of one index value.
func (k keys) indexPrefix(table, field string, key []byte) []byte {
	f := sha256.Sum256([]byte(field))
	v := sha256.Sum256(key)
	return k.cat([]byte("x/"), []byte(table), []byte("/"), f[:], v[:], []byte("/"))
}

// indexField is the prefix of every entry of one index.
func (k keys) indexField(table, field string) []byte {
	f := sha256.Sum256([]byte(field))
	return k.cat([]byte("x/"), []byte(table), []byte("/"), f[:])
}

func (k keys) indexEntry(table, field string, key []byte, docID string) []byte {
	return append(k.indexPrefix(table, field, key), docID...)
}

// indexTable is the prefix of every index entry of a table.
func (k keys) indexTable(table string) []byte { return k.cat([]byte("x/"), []byte(table), []byte("/")) }

// Layout is the key layout of one ledger's data, for offline readers such
// as strand verify: the prefixes under which txn writes each kind of
// record (see the table at the top of this file). Every slice has no spare
// capacity, so appending to it copies.
type Layout struct {
	Prefix         []byte // everything of the ledger
	Meta           []byte // the ledger meta key itself
	Blocks         []byte // b/: blocks by 8-byte sequence number
	Latest         []byte // d/: latest live revision per table and document
	History        []byte // h/: every revision per table, document and 8-byte version
	RevisionBlocks []byte // r/: block sequence number per document and 8-byte version
	Tree           []byte // m/: ledger Merkle tree nodes
}

// LedgerLayout returns the layout of the ledger with the given catalogue id.
func LedgerLayout(ledgerID string) Layout {
	k := newKeys(ledgerID)
	clip := func(b []byte) []byte { return b[:len(b):len(b)] }
	return Layout{
		Prefix:         clip(k.all()),
		Meta:           clip(k.meta()),
		Blocks:         clip(k.blocks()),
		Latest:         clip(k.cat([]byte("d/"))),
		History:        clip(k.cat([]byte("h/"))),
		RevisionBlocks: clip(k.cat([]byte("r/"))),
		Tree:           clip(k.tree()),
	}
}
