package journal

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/qldbhash"
)

// Ion returns the address as QLDB writes it: {strandId, sequenceNo}.
func (a BlockAddress) Ion() *ionvalue.Value {
	return ionvalue.Struct(
		ionvalue.Field{Name: "strandId", Value: ionvalue.String(a.StrandID)},
		ionvalue.Field{Name: "sequenceNo", Value: ionvalue.Int(int64(a.SequenceNo))},
	)
}

// Ion returns the metadata struct QLDB hashes and shows:
// {id, version, txTime, txId}, with txTime a UTC timestamp with exactly three
// fractional digits (the DMV verifier rebuilds it that way, §3.4).
func (m RevisionMetadata) Ion() *ionvalue.Value {
	return ionvalue.Struct(
		ionvalue.Field{Name: "id", Value: ionvalue.String(m.ID)},
		ionvalue.Field{Name: "version", Value: ionvalue.Int(int64(m.Version))},
		ionvalue.Field{Name: "txTime", Value: ionvalue.TimeMillis(m.TxTime)},
		ionvalue.Field{Name: "txId", Value: ionvalue.String(m.TxID)},
	)
}

// RevisionHash returns a document revision's hash, dot(H(metadata), H(data))
// (§3.2), where metadata is m.Ion().
//
// For a deleted document (data == nil) it returns H(metadata): the revision
// carries no data value, and Dot treats the missing operand as the identity.
// The reference leaves what QLDB hashed here UNCONFIRMED, and no public
// verifier can check it (the DMV sample's QldbRevision refuses revisions
// without data), so this is Strand's documented choice.
//
// RevisionHash panics when data cannot be hashed (see qldbhash.Hash); use
// VerifyBlock to check untrusted blocks.
func RevisionHash(data *ionvalue.Value, m RevisionMetadata) []byte {
	h, err := revisionHash(data, m)
	if err != nil {
		panic(err)
	}
	return h
}

func revisionHash(data *ionvalue.Value, m RevisionMetadata) ([]byte, error) {
	return revisionHashOf(data, nil, m)
}

// revisionHashOf is revisionHash for a revision that may be redacted: with
// data nil and dataHash set it is dot(H(metadata), dataHash).
func revisionHashOf(data *ionvalue.Value, dataHash []byte, m RevisionMetadata) ([]byte, error) {
	mh, err := metadataHash(m)
	if err != nil {
		return nil, fmt.Errorf("journal: metadata of %s: %w", m.ID, err)
	}
	if data == nil && dataHash != nil {
		if err := qldbhash.CheckHash(dataHash); err != nil {
			return nil, fmt.Errorf("journal: dataHash of %s: %w", m.ID, err)
		}
		return qldbhash.Dot(bytes.Clone(mh[:]), dataHash), nil
	}
	if data == nil {
		return bytes.Clone(mh[:]), nil
	}
	// The intermediate hashes are arrays: only the result is allocated.
	dh, err := qldbhash.HashValueSum(data)
	if err != nil {
		return nil, fmt.Errorf("journal: data of %s: %w", m.ID, err)
	}
	sum := qldbhash.DotSum(&mh, &dh)
	return sum[:], nil
}

// Ion returns transactionInfo as QLDB writes and hashes it:
//
//	{statements:[{statement, startTime, statementDigest}, ...],
//	 documents:{<documentId>:{tableName, tableId, statements:[<index>, ...]}, ...}}
//
// startTime is a UTC timestamp with three fractional digits and
// statementDigest a blob. documents is left out when no document was touched:
// the DMV verifier's TransactionInfo is @JsonInclude(NON_NULL), so a block
// without it verifies, whereas an empty documents:{} would have to be present
// in QLDB's own blocks to match (not observed). statements is always present.
func (ti TransactionInfo) Ion() *ionvalue.Value {
	stmts := make([]*ionvalue.Value, len(ti.Statements))
	for i, s := range ti.Statements {
		stmts[i] = ionvalue.Struct(
			ionvalue.Field{Name: "statement", Value: ionvalue.String(s.Statement)},
			ionvalue.Field{Name: "startTime", Value: ionvalue.TimeMillis(s.StartTime)},
			ionvalue.Field{Name: "statementDigest", Value: ionvalue.Blob(s.StatementDigest)},
		)
	}
	v := ionvalue.Struct(ionvalue.Field{Name: "statements", Value: ionvalue.List(stmts...)})
	if len(ti.Documents) == 0 {
		return v
	}
	docs := make([]ionvalue.Field, len(ti.Documents))
	for i, d := range ti.Documents {
		idx := make([]*ionvalue.Value, len(d.Statements))
		for j, n := range d.Statements {
			idx[j] = ionvalue.Int(int64(n))
		}
		docs[i] = ionvalue.Field{Name: d.DocumentID, Value: ionvalue.Struct(
			ionvalue.Field{Name: "tableName", Value: ionvalue.String(d.TableName)},
			ionvalue.Field{Name: "tableId", Value: ionvalue.String(d.TableID)},
			ionvalue.Field{Name: "statements", Value: ionvalue.List(idx...)},
		)}
	}
	v.Fields = append(v.Fields, ionvalue.Field{Name: "documents", Value: ionvalue.Struct(docs...)})
	return v
}

// TransactionInfoHash returns H(ti.Ion()), the entry transactionInfo adds to
// entriesHashList. It panics only if a document id has the form $<digits>
// (see ionvalue.ErrSymbolIDText).
func TransactionInfoHash(ti TransactionInfo) []byte {
	h, err := transactionInfoHash(ti)
	if err != nil {
		panic(err)
	}
	return h
}

// Ion returns the revision in the committed-view / GetRevision shape
// {blockAddress, hash, data, metadata} for a revision written by the block at
// addr. A deleted document's revision has no data field, a redacted one has
// dataHash in its place; a system revision is just {hash}.
func (r Revision) Ion(addr BlockAddress) *ionvalue.Value {
	if r.IsSystem() {
		return ionvalue.Struct(ionvalue.Field{Name: "hash", Value: ionvalue.Blob(r.Hash)})
	}
	v := ionvalue.Struct(
		ionvalue.Field{Name: "blockAddress", Value: addr.Ion()},
		ionvalue.Field{Name: "hash", Value: ionvalue.Blob(r.Hash)},
	)
	if r.Data != nil {
		v.Fields = append(v.Fields, ionvalue.Field{Name: "data", Value: r.Data})
	} else if r.DataHash != nil {
		v.Fields = append(v.Fields, ionvalue.Field{Name: "dataHash", Value: ionvalue.Blob(r.DataHash)})
	}
	v.Fields = append(v.Fields, ionvalue.Field{Name: "metadata", Value: r.Metadata.Ion()})
	return v
}

// revisionHashes returns the hash of every revision, in order.
func (b *Block) revisionHashes() [][]byte {
	hs := make([][]byte, len(b.Revisions))
	for i, r := range b.Revisions {
		hs[i] = r.Hash
	}
	return hs
}

// Seal computes the block's hashes, chaining it to previousBlockHash (empty
// for the first block of a strand): it sets the Hash of every non-system
// revision to RevisionHash(Data, Metadata) (system revisions keep theirs),
// then PreviousBlockHash (a copy), EntriesHashList = [MerkleRoot(revision
// hashes) when there are revisions, H(transactionInfo), H(RedactionInfo) when
// set], EntriesHash =
// MerkleRoot(EntriesHashList) and BlockHash = dot(EntriesHash,
// PreviousBlockHash). A sealed block passes VerifyBlock. Seal panics when a
// document cannot be hashed (see RevisionHash).
func (b *Block) Seal(previousBlockHash []byte) {
	for i := range b.Revisions {
		r := &b.Revisions[i]
		if !r.IsSystem() {
			r.Hash = RevisionHash(r.Data, r.Metadata)
		}
	}
	b.PreviousBlockHash = bytes.Clone(previousBlockHash)
	b.EntriesHashList = nil
	if len(b.Revisions) > 0 {
		b.EntriesHashList = append(b.EntriesHashList, qldbhash.MerkleRoot(b.revisionHashes()))
	}
	b.EntriesHashList = append(b.EntriesHashList, TransactionInfoHash(b.TransactionInfo))
	if b.RedactionInfo != nil {
		b.EntriesHashList = append(b.EntriesHashList, qldbhash.Hash(b.RedactionInfo))
	}
	b.EntriesHash = qldbhash.MerkleRoot(b.EntriesHashList)
	b.BlockHash = qldbhash.Dot(b.EntriesHash, b.PreviousBlockHash)
}

// Ion returns the block in QLDB's GetBlock shape and field order:
// blockAddress, transactionId, blockTimestamp, blockHash, entriesHash,
// previousBlockHash, entriesHashList, transactionInfo, revisions. The first
// block's previousBlockHash is an empty blob ({{}}), which verifiers read as
// the identity of dot. revisions is left out when the block has none (the DMV
// verifier would otherwise look for the root of an empty list); each revision
// has the shape of Revision.Ion, system revisions being {hash} only.
func (b *Block) Ion() *ionvalue.Value {
	entries := make([]*ionvalue.Value, len(b.EntriesHashList))
	for i, h := range b.EntriesHashList {
		entries[i] = ionvalue.Blob(h)
	}
	v := ionvalue.Struct(
		ionvalue.Field{Name: "blockAddress", Value: b.Address.Ion()},
		ionvalue.Field{Name: "transactionId", Value: ionvalue.String(b.TransactionID)},
		ionvalue.Field{Name: "blockTimestamp", Value: ionvalue.TimeMillis(b.Timestamp)},
		ionvalue.Field{Name: "blockHash", Value: ionvalue.Blob(b.BlockHash)},
		ionvalue.Field{Name: "entriesHash", Value: ionvalue.Blob(b.EntriesHash)},
		ionvalue.Field{Name: "previousBlockHash", Value: ionvalue.Blob(b.PreviousBlockHash)},
		ionvalue.Field{Name: "entriesHashList", Value: ionvalue.List(entries...)},
		ionvalue.Field{Name: "transactionInfo", Value: b.TransactionInfo.Ion()},
	)
	if len(b.Revisions) > 0 {
		revs := make([]*ionvalue.Value, len(b.Revisions))
		for i, r := range b.Revisions {
			revs[i] = r.Ion(b.Address)
		}
		v.Fields = append(v.Fields, ionvalue.Field{Name: "revisions", Value: ionvalue.List(revs...)})
	}
	if b.RedactionInfo != nil {
		v.Fields = append(v.Fields, ionvalue.Field{Name: "redactionInfo", Value: b.RedactionInfo})
	}
	return v
}

// ErrVerify is wrapped by every error VerifyBlock returns.
var ErrVerify = errors.New("journal: block verification failed")

// VerifyBlock recomputes every hash of b the way QLDB's verifiers do and
// checks that b.PreviousBlockHash equals prev (the previous block's
// BlockHash; empty for the first block). It checks hash lengths, each user
// revision's hash, that H(transactionInfo) and (when there are revisions)
// the revisions' Merkle root are members of EntriesHashList (QLDB's own blocks
// carry extra internal entries, so membership rather than equality is
// checked), that EntriesHash is the Merkle root of EntriesHashList, that
// BlockHash = dot(EntriesHash, PreviousBlockHash), and that document statement
// indexes are in range. A redacted revision verifies by its dataHash
// (dot(H(metadata), dataHash)), and H(redactionInfo), when the block has one,
// must be in EntriesHashList. It returns nil when everything holds, otherwise an
// error wrapping ErrVerify that names every failed check.
func VerifyBlock(b *Block, prev []byte) error {
	if b == nil {
		return fmt.Errorf("%w: nil block", ErrVerify)
	}
	var fails []string
	fail := func(format string, args ...any) { fails = append(fails, fmt.Sprintf(format, args...)) }

	// checkLen names the hash (format and i) only when it fails: naming
	// every hash up front would cost an allocation each.
	checkLen := func(format string, i int, h []byte, mayBeEmpty bool) {
		if mayBeEmpty && len(h) == 0 {
			return
		}
		if err := qldbhash.CheckHash(h); err != nil {
			name := format
			if strings.Contains(format, "%d") {
				name = fmt.Sprintf(format, i)
			}
			fail("%s: %v", name, err)
		}
	}
	checkLen("blockHash", 0, b.BlockHash, false)
	checkLen("entriesHash", 0, b.EntriesHash, false)
	checkLen("previousBlockHash", 0, b.PreviousBlockHash, true)
	for i, h := range b.EntriesHashList {
		checkLen("entriesHashList[%d]", i, h, false)
	}
	for i, s := range b.TransactionInfo.Statements {
		checkLen("statement %d statementDigest", i, s.StatementDigest, false)
	}

	if !bytes.Equal(b.PreviousBlockHash, prev) {
		fail("previousBlockHash %x does not chain to the previous block hash %x", b.PreviousBlockHash, prev)
	}

	for i, r := range b.Revisions {
		checkLen("revision %d hash", i, r.Hash, false)
		if r.IsSystem() {
			continue
		}
		h, err := revisionHashOf(r.Data, r.DataHash, r.Metadata)
		if err != nil {
			fail("revision %d (document %s): %v", i, r.Metadata.ID, err)
		} else if !bytes.Equal(h, r.Hash) {
			fail("revision %d (document %s): hash %x, recomputed %x", i, r.Metadata.ID, r.Hash, h)
		}
	}

	for _, d := range b.TransactionInfo.Documents {
		for _, n := range d.Statements {
			if n < 0 || n >= len(b.TransactionInfo.Statements) {
				fail("transactionInfo document %s: statement index %d out of range", d.DocumentID, n)
			}
		}
	}
	if ti, err := transactionInfoHash(b.TransactionInfo); err != nil {
		fail("transactionInfo: %v", err)
	} else if !containsHash(b.EntriesHashList, ti) {
		fail("transactionInfo hash %x is not in entriesHashList", ti)
	}
	if b.RedactionInfo != nil {
		if h, err := qldbhash.HashValue(b.RedactionInfo); err != nil {
			fail("redactionInfo: %v", err)
		} else if !containsHash(b.EntriesHashList, h) {
			fail("redactionInfo hash %x is not in entriesHashList", h)
		}
	}
	if len(b.Revisions) > 0 {
		if root := qldbhash.MerkleRoot(b.revisionHashes()); !containsHash(b.EntriesHashList, root) {
			fail("revisions Merkle root %x is not in entriesHashList", root)
		}
	}

	entries := qldbhash.MerkleRoot(b.EntriesHashList)
	if !bytes.Equal(entries, b.EntriesHash) {
		fail("entriesHash %x, Merkle root of entriesHashList %x", b.EntriesHash, entries)
	}
	if bh := qldbhash.Dot(b.EntriesHash, b.PreviousBlockHash); !bytes.Equal(bh, b.BlockHash) {
		fail("blockHash %x, dot(entriesHash, previousBlockHash) %x", b.BlockHash, bh)
	}

	if len(fails) == 0 {
		return nil
	}
	errs := make([]error, len(fails))
	for i, f := range fails {
		errs[i] = errors.New(f)
	}
	return fmt.Errorf("%w: block %s/%d: %w", ErrVerify, b.Address.StrandID, b.Address.SequenceNo, errors.Join(errs...))
}

// containsHash reports whether list holds h.
func containsHash(list [][]byte, h []byte) bool {
	for _, x := range list {
		if bytes.Equal(x, h) {
			return true
		}
	}
	return false
}
