package journal

import (
	"unsafe"

	"github.com/strand-db/strand/internal/ionvalue"
)

// Sizes of the structs a block in memory is made of, for approxMemory.
const (
	sizeBlock     = int(unsafe.Sizeof(Block{}))
	sizeRevision  = int(unsafe.Sizeof(Revision{}))
	sizeStatement = int(unsafe.Sizeof(StatementInfo{}))
	sizeDocument  = int(unsafe.Sizeof(DocumentInfo{}))
	sizeValue     = int(unsafe.Sizeof(ionvalue.Value{}))
	sizeField     = int(unsafe.Sizeof(ionvalue.Field{}))
	sizeSlice     = int(unsafe.Sizeof([]byte(nil)))
	sizeString    = int(unsafe.Sizeof(""))
	sizePointer   = int(unsafe.Sizeof((*ionvalue.Value)(nil)))
	// sizeBig is charged for an arbitrary-precision integer or decimal.
	sizeBig = 64
)

// approxMemory estimates the bytes of memory block b holds: its structs,
// hashes, strings and the Ion value trees of its documents, each node at
// the size of an ionvalue.Value. A block in memory is several times its
// encoded size (a block of 40 small documents as the committer builds it,
// 10 KB encoded, holds about 49 KB; this estimate is within a few percent
// of that), so the recent-block buffer is bounded by this estimate, not by
// encoded bytes. A block decoded from the store holds more than this
// estimate (its values share slabs with the parts of the block's Ion that
// were not kept), but the buffer holds only the committer's blocks.
func approxMemory(b *Block) int {
	n := sizeBlock + len(b.Address.StrandID) + len(b.TransactionID) + len(b.BlockHash) + len(b.EntriesHash) + len(b.PreviousBlockHash)
	n += cap(b.EntriesHashList) * sizeSlice
	for _, h := range b.EntriesHashList {
		n += len(h)
	}
	ti := &b.TransactionInfo
	n += cap(ti.Statements)*sizeStatement + cap(ti.Documents)*sizeDocument
	for _, s := range ti.Statements {
		n += len(s.Statement) + len(s.StatementDigest)
	}
	for _, d := range ti.Documents {
		n += len(d.DocumentID) + len(d.TableName) + len(d.TableID) + 8*cap(d.Statements)
	}
	n += cap(b.Revisions) * sizeRevision
	for i := range b.Revisions {
		r := &b.Revisions[i]
		n += len(r.Hash) + len(r.DataHash) + len(r.TableName) + len(r.TableID) +
			len(r.Metadata.ID) + len(r.Metadata.TxID) + valueMemory(r.Data)
	}
	return n + valueMemory(b.RedactionInfo)
}

// valueMemory estimates the bytes of memory Ion value tree v holds.
func valueMemory(v *ionvalue.Value) int {
	if v == nil {
		return 0
	}
	n := sizeValue + len(v.Text) + len(v.Bytes) + cap(v.Annotations)*sizeString
	for _, a := range v.Annotations {
		n += len(a)
	}
	if v.BigInt != nil || v.Decimal != nil {
		n += sizeBig
	}
	n += cap(v.Elems) * sizePointer
	for _, e := range v.Elems {
		n += valueMemory(e)
	}
	n += cap(v.Fields) * sizeField
	for _, f := range v.Fields {
		n += len(f.Name) + valueMemory(f.Value)
	}
	return n
}
