package record

import (
	"bytes"
	"fmt"
	"time"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
)

// Decode parses one stream record: Ion binary (it must start with the Ion 1.0
// version marker) holding exactly one top-level, unannotated struct of the
// shape the Encode functions write. Decode is strict so that drift between
// encoder and decoder shows: it rejects unknown, duplicate or missing fields,
// wrong Ion types (a symbol where a string belongs, an int where a blob
// belongs, ...), nulls, negative sequence numbers, versions or statement
// indexes, and unknown record types or control record types. Field order is not checked (Ion does not
// give it meaning); re-encoding with Record.Encode restores QLDB's order.
// A missing data field of a REVISION_DETAILS decodes as Revision.Data == nil;
// a missing documents or revisionSummaries field as an empty slice.
func Decode(b []byte) (*Record, error) {
	if !bytes.HasPrefix(b, ivm) {
		return nil, errf("decode: not Ion 1.0 binary (no version marker)")
	}
	v, err := ionvalue.DecodeStored(b)
	if err != nil {
		return nil, errf("decode: %v", err)
	}
	return fromValue(v)
}

// fromValue converts the top-level struct of a record.
func fromValue(v *ionvalue.Value) (*Record, error) {
	top, err := fieldsOf(v, "record", "qldbStreamArn", "recordType", "payload")
	if err != nil {
		return nil, err
	}
	r := &Record{}
	if r.StreamARN, err = top.str("qldbStreamArn"); err != nil {
		return nil, err
	}
	rt, err := top.str("recordType")
	if err != nil {
		return nil, err
	}
	r.Type = RecordType(rt)
	payload, err := top.get("payload", ion.StructType)
	if err != nil {
		return nil, err
	}
	switch r.Type {
	case TypeControl:
		p, err := fieldsOf(payload, "payload", "controlRecordType")
		if err != nil {
			return nil, err
		}
		if r.ControlType, err = p.str("controlRecordType"); err != nil {
			return nil, err
		}
		if r.ControlType != ControlCreated && r.ControlType != ControlCompleted {
			return nil, errf("decode CONTROL: unknown control record type %q", r.ControlType)
		}
	case TypeBlockSummary:
		if r.Block, err = decodeBlockSummary(payload); err != nil {
			return nil, err
		}
	case TypeRevisionDetails:
		if r.Revision, err = decodeRevisionDetails(payload); err != nil {
			return nil, err
		}
	default:
		return nil, errf("decode: unknown recordType %q", rt)
	}
	return r, nil
}

func decodeBlockSummary(payload *ionvalue.Value) (*journal.Block, error) {
	p, err := fieldsOf(payload, "payload", "blockAddress", "transactionId", "blockTimestamp",
		"blockHash", "entriesHash", "previousBlockHash", "entriesHashList", "transactionInfo", "revisionSummaries", "redactionInfo")
	if err != nil {
		return nil, err
	}
	b := &journal.Block{}
	if b.Address, err = decodeAddress(p); err != nil {
		return nil, err
	}
	if b.TransactionID, err = p.str("transactionId"); err != nil {
		return nil, err
	}
	if b.Timestamp, err = p.time("blockTimestamp"); err != nil {
		return nil, err
	}
	if b.BlockHash, err = p.blob("blockHash"); err != nil {
		return nil, err
	}
	if b.EntriesHash, err = p.blob("entriesHash"); err != nil {
		return nil, err
	}
	if b.PreviousBlockHash, err = p.blob("previousBlockHash"); err != nil {
		return nil, err
	}
	list, err := p.get("entriesHashList", ion.ListType)
	if err != nil {
		return nil, err
	}
	for i, e := range list.Elems {
		if err := check(e, ion.BlobType, fmt.Sprintf("payload.entriesHashList[%d]", i)); err != nil {
			return nil, err
		}
		b.EntriesHashList = append(b.EntriesHashList, e.Bytes)
	}
	if b.TransactionInfo, err = decodeTransactionInfo(p); err != nil {
		return nil, err
	}
	if p.has("redactionInfo") {
		if b.RedactionInfo, err = p.get("redactionInfo", ion.StructType); err != nil {
			return nil, err
		}
	}
	if !p.has("revisionSummaries") {
		return b, nil
	}
	sums, err := p.get("revisionSummaries", ion.ListType)
	if err != nil {
		return nil, err
	}
	for i, e := range sums.Elems {
		s, err := fieldsOf(e, fmt.Sprintf("payload.revisionSummaries[%d]", i), "hash", "documentId")
		if err != nil {
			return nil, err
		}
		var rev journal.Revision
		if rev.Hash, err = s.blob("hash"); err != nil {
			return nil, err
		}
		if s.has("documentId") {
			if rev.Metadata.ID, err = s.str("documentId"); err != nil {
				return nil, err
			}
		}
		b.Revisions = append(b.Revisions, rev)
	}
	return b, nil
}

func decodeTransactionInfo(p fields) (journal.TransactionInfo, error) {
	var ti journal.TransactionInfo
	tiv, err := p.get("transactionInfo", ion.StructType)
	if err != nil {
		return ti, err
	}
	t, err := fieldsOf(tiv, "payload.transactionInfo", "statements", "documents")
	if err != nil {
		return ti, err
	}
	stmts, err := t.get("statements", ion.ListType)
	if err != nil {
		return ti, err
	}
	for i, e := range stmts.Elems {
		s, err := fieldsOf(e, fmt.Sprintf("payload.transactionInfo.statements[%d]", i), "statement", "startTime", "statementDigest")
		if err != nil {
			return ti, err
		}
		var si journal.StatementInfo
		if si.Statement, err = s.str("statement"); err != nil {
			return ti, err
		}
		if si.StartTime, err = s.time("startTime"); err != nil {
			return ti, err
		}
		if si.StatementDigest, err = s.blob("statementDigest"); err != nil {
			return ti, err
		}
		ti.Statements = append(ti.Statements, si)
	}
	if !t.has("documents") {
		return ti, nil
	}
	docs, err := t.get("documents", ion.StructType)
	if err != nil {
		return ti, err
	}
	if _, err := fieldsOf(docs, "payload.transactionInfo.documents"); err != nil { // duplicate ids
		return ti, err
	}
	for _, f := range docs.Fields {
		path := "payload.transactionInfo.documents." + f.Name
		d, err := fieldsOf(f.Value, path, "tableName", "tableId", "statements")
		if err != nil {
			return ti, err
		}
		di := journal.DocumentInfo{DocumentID: f.Name}
		if di.TableName, err = d.str("tableName"); err != nil {
			return ti, err
		}
		if di.TableID, err = d.str("tableId"); err != nil {
			return ti, err
		}
		idx, err := d.get("statements", ion.ListType)
		if err != nil {
			return ti, err
		}
		for i, e := range idx.Elems {
			n, err := uintOf(e, fmt.Sprintf("%s.statements[%d]", path, i))
			if err != nil {
				return ti, err
			}
			if n >= uint64(len(ti.Statements)) {
				return ti, errf("decode: %s.statements[%d]: index %d outside the %d statements", path, i, n, len(ti.Statements))
			}
			di.Statements = append(di.Statements, int(n))
		}
		ti.Documents = append(ti.Documents, di)
	}
	return ti, nil
}

func decodeRevisionDetails(payload *ionvalue.Value) (*RevisionDetails, error) {
	p, err := fieldsOf(payload, "payload", "tableInfo", "revision")
	if err != nil {
		return nil, err
	}
	tiv, err := p.get("tableInfo", ion.StructType)
	if err != nil {
		return nil, err
	}
	ti, err := fieldsOf(tiv, "payload.tableInfo", "tableName", "tableId")
	if err != nil {
		return nil, err
	}
	rd := &RevisionDetails{}
	rev := &rd.Revision
	if rev.TableName, err = ti.str("tableName"); err != nil {
		return nil, err
	}
	if rev.TableID, err = ti.str("tableId"); err != nil {
		return nil, err
	}
	rv, err := p.get("revision", ion.StructType)
	if err != nil {
		return nil, err
	}
	r, err := fieldsOf(rv, "payload.revision", "blockAddress", "hash", "data", "dataHash", "metadata")
	if err != nil {
		return nil, err
	}
	if rd.Address, err = decodeAddress(r); err != nil {
		return nil, err
	}
	if rev.Hash, err = r.blob("hash"); err != nil {
		return nil, err
	}
	if r.has("dataHash") && !r.has("data") {
		if rev.DataHash, err = r.blob("dataHash"); err != nil {
			return nil, err
		}
	}
	if r.has("data") {
		rev.Data = r.m["data"]
	}
	mv, err := r.get("metadata", ion.StructType)
	if err != nil {
		return nil, err
	}
	m, err := fieldsOf(mv, "payload.revision.metadata", "id", "version", "txTime", "txId")
	if err != nil {
		return nil, err
	}
	if rev.Metadata.ID, err = m.str("id"); err != nil {
		return nil, err
	}
	if rev.Metadata.Version, err = m.uint("version"); err != nil {
		return nil, err
	}
	if rev.Metadata.TxTime, err = m.time("txTime"); err != nil {
		return nil, err
	}
	if rev.Metadata.TxID, err = m.str("txId"); err != nil {
		return nil, err
	}
	if rev.Metadata.ID == "" {
		return nil, errf("decode: payload.revision.metadata.id is empty")
	}
	return rd, nil
}

func decodeAddress(p fields) (journal.BlockAddress, error) {
	var a journal.BlockAddress
	av, err := p.get("blockAddress", ion.StructType)
	if err != nil {
		return a, err
	}
	f, err := fieldsOf(av, p.path+".blockAddress", "strandId", "sequenceNo")
	if err != nil {
		return a, err
	}
	if a.StrandID, err = f.str("strandId"); err != nil {
		return a, err
	}
	a.SequenceNo, err = f.uint("sequenceNo")
	return a, err
}

// fields is a struct's fields by name, with the struct's path for errors.
type fields struct {
	path string
	m    map[string]*ionvalue.Value
}

// fieldsOf checks that v is a non-null, unannotated struct whose field names
// are unique and, when allowed is not empty, all in allowed.
func fieldsOf(v *ionvalue.Value, path string, allowed ...string) (fields, error) {
	f := fields{path: path, m: make(map[string]*ionvalue.Value, len(allowed))}
	if err := check(v, ion.StructType, path); err != nil {
		return f, err
	}
	for _, fl := range v.Fields {
		if len(allowed) > 0 && !contains(allowed, fl.Name) {
			return f, errf("decode: %s: unexpected field %q", path, fl.Name)
		}
		if _, dup := f.m[fl.Name]; dup {
			return f, errf("decode: %s: duplicate field %q", path, fl.Name)
		}
		f.m[fl.Name] = fl.Value
	}
	return f, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// check fails unless v is a non-null, unannotated value of type t.
func check(v *ionvalue.Value, t ion.Type, path string) error {
	switch {
	case v == nil:
		return errf("decode: %s: missing", path)
	case v.Type != t:
		return errf("decode: %s: is %v, want %v", path, v.Type, t)
	case v.IsNull:
		return errf("decode: %s: is null", path)
	case len(v.Annotations) > 0:
		return errf("decode: %s: unexpected annotations %v", path, v.Annotations)
	}
	return nil
}

func (f fields) has(name string) bool { _, ok := f.m[name]; return ok }

// get returns the required field name, which must have type t.
func (f fields) get(name string, t ion.Type) (*ionvalue.Value, error) {
	v, ok := f.m[name]
	if !ok {
		return nil, errf("decode: %s: missing field %q", f.path, name)
	}
	return v, check(v, t, f.path+"."+name)
}

func (f fields) str(name string) (string, error) {
	v, err := f.get(name, ion.StringType)
	if err != nil {
		return "", err
	}
	return v.Text, nil
}

func (f fields) blob(name string) ([]byte, error) {
	v, err := f.get(name, ion.BlobType)
	if err != nil {
		return nil, err
	}
	return v.Bytes, nil
}

func (f fields) time(name string) (time.Time, error) {
	v, err := f.get(name, ion.TimestampType)
	if err != nil {
		return time.Time{}, err
	}
	return v.Time.GetDateTime().UTC(), nil
}

func (f fields) uint(name string) (uint64, error) {
	v, ok := f.m[name]
	if !ok {
		return 0, errf("decode: %s: missing field %q", f.path, name)
	}
	return uintOf(v, f.path+"."+name)
}

// uintOf returns the value of a non-negative Ion int that fits int64.
func uintOf(v *ionvalue.Value, path string) (uint64, error) {
	if err := check(v, ion.IntType, path); err != nil {
		return 0, err
	}
	if v.BigInt != nil && !v.BigInt.IsInt64() {
		return 0, errf("decode: %s: %v out of range", path, v.BigInt)
	}
	n := v.Int
	if v.BigInt != nil {
		n = v.BigInt.Int64()
	}
	if n < 0 {
		return 0, errf("decode: %s: negative value %d", path, n)
	}
	return uint64(n), nil
}
