package journal

import (
	"fmt"
	"time"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// BlockFromIon reads a block in QLDB's GetBlock shape (the inverse of
// Block.Ion; a stream BLOCK_SUMMARY payload also reads, without its
// revisions). Unknown fields (revisionSummaries, redactionInfo) are ignored.
// Revisions with only a hash become system revisions; the others get their
// TableName and TableID from transactionInfo.documents. Timestamps are kept
// at millisecond precision. It does not verify any hash (see VerifyBlock).
func BlockFromIon(v *ionvalue.Value) (*Block, error) {
	if err := wantType(v, ion.StructType); err != nil {
		return nil, fmt.Errorf("journal: block: %w", err)
	}
	b := &Block{}
	var err error
	if b.Address, err = addressFromIon(v.Get("blockAddress")); err != nil {
		return nil, fmt.Errorf("journal: block: blockAddress: %w", err)
	}
	if b.TransactionID, err = stringField(v, "transactionId"); err != nil {
		return nil, fmt.Errorf("journal: block: %w", err)
	}
	if b.Timestamp, err = timeField(v, "blockTimestamp"); err != nil {
		return nil, fmt.Errorf("journal: block: %w", err)
	}
	for _, f := range []struct {
		name     string
		dst      *[]byte
		optional bool
	}{{"blockHash", &b.BlockHash, false}, {"entriesHash", &b.EntriesHash, false}, {"previousBlockHash", &b.PreviousBlockHash, true}} {
		if f.optional && v.Get(f.name) == nil {
			continue
		}
		if *f.dst, err = blobField(v, f.name); err != nil {
			return nil, fmt.Errorf("journal: block: %w", err)
		}
	}
	list := v.Get("entriesHashList")
	if err := wantType(list, ion.ListType); err != nil {
		return nil, fmt.Errorf("journal: block: entriesHashList: %w", err)
	}
	if len(list.Elems) > 0 { // an empty list stays nil
		b.EntriesHashList = make([][]byte, 0, len(list.Elems))
	}
	for i, e := range list.Elems {
		if err := wantType(e, ion.BlobType); err != nil {
			return nil, fmt.Errorf("journal: block: entriesHashList[%d]: %w", i, err)
		}
		b.EntriesHashList = append(b.EntriesHashList, e.Bytes)
	}
	if b.TransactionInfo, err = TransactionInfoFromIon(v.Get("transactionInfo")); err != nil {
		return nil, err
	}
	if ri := v.Get("redactionInfo"); ri != nil {
		if err := wantType(ri, ion.StructType); err != nil {
			return nil, fmt.Errorf("journal: block: redactionInfo: %w", err)
		}
		b.RedactionInfo = ri
	}
	if revs := v.Get("revisions"); revs != nil {
		if err := wantType(revs, ion.ListType); err != nil {
			return nil, fmt.Errorf("journal: block: revisions: %w", err)
		}
		docs := b.TransactionInfo.Documents
		var byID map[string]int // for blocks of many documents
		if len(docs) > 16 {
			byID = make(map[string]int, len(docs))
			for i := len(docs) - 1; i >= 0; i-- { // the first of duplicate ids wins
				byID[docs[i].DocumentID] = i
			}
		}
		for i, rv := range revs.Elems {
			r, _, err := RevisionFromIon(rv)
			if err != nil {
				return nil, fmt.Errorf("journal: block: revision %d: %w", i, err)
			}
			if !r.IsSystem() {
				if d, ok := documentOf(docs, byID, r.Metadata.ID); ok {
					r.TableName, r.TableID = d.TableName, d.TableID
				}
			}
			b.Revisions = append(b.Revisions, r)
		}
	}
	return b, nil
}

// documentOf finds the transactionInfo document of id: through byID when it
// is set, otherwise by a scan (cheaper for the few documents of most blocks).
func documentOf(docs []DocumentInfo, byID map[string]int, id string) (DocumentInfo, bool) {
	if byID != nil {
		i, ok := byID[id]
		if !ok {
			return DocumentInfo{}, false
		}
		return docs[i], true
	}
	for _, d := range docs {
		if d.DocumentID == id {
			return d, true
		}
	}
	return DocumentInfo{}, false
}

// TransactionInfoFromIon reads transactionInfo (the inverse of
// TransactionInfo.Ion); documents keep their field order.
func TransactionInfoFromIon(v *ionvalue.Value) (TransactionInfo, error) {
	var ti TransactionInfo
	if err := wantType(v, ion.StructType); err != nil {
		return ti, fmt.Errorf("journal: transactionInfo: %w", err)
	}
	stmts := v.Get("statements")
	if err := wantType(stmts, ion.ListType); err != nil {
		return ti, fmt.Errorf("journal: transactionInfo: statements: %w", err)
	}
	for i, s := range stmts.Elems {
		var si StatementInfo
		var err error
		if si.Statement, err = stringField(s, "statement"); err == nil {
			if si.StartTime, err = timeField(s, "startTime"); err == nil {
				si.StatementDigest, err = blobField(s, "statementDigest")
			}
		}
		if err != nil {
			return ti, fmt.Errorf("journal: transactionInfo: statement %d: %w", i, err)
		}
		ti.Statements = append(ti.Statements, si)
	}
	docs := v.Get("documents")
	if docs == nil {
		return ti, nil
	}
	if err := wantType(docs, ion.StructType); err != nil {
		return ti, fmt.Errorf("journal: transactionInfo: documents: %w", err)
	}
	for _, f := range docs.Fields {
		d := DocumentInfo{DocumentID: f.Name}
		var err error
		if d.TableName, err = stringField(f.Value, "tableName"); err == nil {
			d.TableID, err = stringField(f.Value, "tableId")
		}
		if err == nil {
			d.Statements, err = intList(f.Value.Get("statements"))
		}
		if err != nil {
			return ti, fmt.Errorf("journal: transactionInfo: document %s: %w", f.Name, err)
		}
		ti.Documents = append(ti.Documents, d)
	}
	return ti, nil
}

// RevisionFromIon reads a revision in the committed-view / GetRevision shape
// {blockAddress, hash, data, metadata} and returns it with its block address.
// A struct holding only hash is a system revision (zero address); one without
// data is a deleted document's revision, unless it has dataHash (a redacted
// revision).
func RevisionFromIon(v *ionvalue.Value) (Revision, BlockAddress, error) {
	var r Revision
	var addr BlockAddress
	if err := wantType(v, ion.StructType); err != nil {
		return r, addr, fmt.Errorf("journal: revision: %w", err)
	}
	var err error
	if r.Hash, err = blobField(v, "hash"); err != nil {
		return r, addr, fmt.Errorf("journal: revision: %w", err)
	}
	md := v.Get("metadata")
	if md == nil && v.Get("data") == nil && v.Get("blockAddress") == nil {
		return r, addr, nil // system revision
	}
	if addr, err = addressFromIon(v.Get("blockAddress")); err != nil {
		return r, addr, fmt.Errorf("journal: revision: blockAddress: %w", err)
	}
	if err := wantType(md, ion.StructType); err != nil {
		return r, addr, fmt.Errorf("journal: revision: metadata: %w", err)
	}
	if r.Metadata.ID, err = stringField(md, "id"); err == nil {
		if r.Metadata.TxID, err = stringField(md, "txId"); err == nil {
			if r.Metadata.TxTime, err = timeField(md, "txTime"); err == nil {
				r.Metadata.Version, err = uintField(md, "version")
			}
		}
	}
	if err != nil {
		return r, addr, fmt.Errorf("journal: revision: metadata: %w", err)
	}
	r.Data = v.Get("data")
	if r.Data == nil && v.Get("dataHash") != nil {
		if r.DataHash, err = blobField(v, "dataHash"); err != nil {
			return r, addr, fmt.Errorf("journal: revision: %w", err)
		}
	}
	return r, addr, nil
}

// AddressFromIon reads a block address {strandId, sequenceNo}, as clients
// send it in GetBlock / GetRevision requests and as blocks carry it.
func AddressFromIon(v *ionvalue.Value) (BlockAddress, error) {
	a, err := addressFromIon(v)
	if err != nil {
		return a, fmt.Errorf("journal: block address: %w", err)
	}
	return a, nil
}

func addressFromIon(v *ionvalue.Value) (BlockAddress, error) {
	var a BlockAddress
	if err := wantType(v, ion.StructType); err != nil {
		return a, err
	}
	var err error
	if a.StrandID, err = stringField(v, "strandId"); err != nil {
		return a, err
	}
	a.SequenceNo, err = uintField(v, "sequenceNo")
	return a, err
}

// wantType checks that v is a non-null value of type t.
func wantType(v *ionvalue.Value, t ion.Type) error {
	switch {
	case v == nil:
		return fmt.Errorf("missing %v", t)
	case v.IsNullValue():
		return fmt.Errorf("null instead of %v", t)
	case v.Type != t:
		return fmt.Errorf("%v instead of %v", v.Type, t)
	}
	return nil
}

func stringField(v *ionvalue.Value, name string) (string, error) {
	f := v.Get(name)
	if err := wantType(f, ion.StringType); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return f.Text, nil
}

func blobField(v *ionvalue.Value, name string) ([]byte, error) {
	f := v.Get(name)
	if err := wantType(f, ion.BlobType); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f.Bytes, nil
}

func timeField(v *ionvalue.Value, name string) (time.Time, error) {
	f := v.Get(name)
	if err := wantType(f, ion.TimestampType); err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", name, err)
	}
	return f.Time.GetDateTime().UTC(), nil
}

func uintField(v *ionvalue.Value, name string) (uint64, error) {
	f := v.Get(name)
	if err := wantType(f, ion.IntType); err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	if f.BigInt != nil || f.Int < 0 {
		return 0, fmt.Errorf("%s: %s is not a uint64", name, f)
	}
	return uint64(f.Int), nil
}

func intList(v *ionvalue.Value) ([]int, error) {
	if err := wantType(v, ion.ListType); err != nil {
		return nil, fmt.Errorf("statements: %w", err)
	}
	out := make([]int, len(v.Elems))
	for i, e := range v.Elems {
		if err := wantType(e, ion.IntType); err != nil || e.BigInt != nil {
			return nil, fmt.Errorf("statements[%d]: not a small int", i)
		}
		out[i] = int(e.Int)
	}
	return out, nil
}
