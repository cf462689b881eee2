package record

import (
	"fmt"
	"math"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
)

// hashLen is the length of every QLDB hash (SHA-256).
const hashLen = 32

func errf(format string, args ...any) error {
	return fmt.Errorf("record: "+format, args...)
}

// EncodeControl encodes the CONTROL record
//
//	{qldbStreamArn, recordType:"CONTROL", payload:{controlRecordType}}
//
// controlType must be ControlCreated or ControlCompleted, the only values
// QLDB documents; streamARN must not be empty.
func EncodeControl(streamARN, controlType string) ([]byte, error) {
	if streamARN == "" {
		return nil, errf("encode CONTROL: empty stream ARN")
	}
	if controlType != ControlCreated && controlType != ControlCompleted {
		return nil, errf("encode CONTROL: unknown control record type %q", controlType)
	}
	w := newRecordEncoder()
	w.BeginStruct()
	writeHeader(w, streamARN, TypeControl)
	w.FieldName("payload")
	w.BeginStruct()
	w.FieldName("controlRecordType")
	w.WriteString(controlType)
	w.End()
	w.End()
	return recordBytes(w)
}

// EncodeBlockSummary encodes the BLOCK_SUMMARY record of b:
//
//	{qldbStreamArn, recordType:"BLOCK_SUMMARY", payload:{
//	  blockAddress:{strandId, sequenceNo}, transactionId, blockTimestamp,
//	  blockHash, entriesHash, previousBlockHash, entriesHashList:[blob...],
//	  transactionInfo:{statements:[{statement, startTime, statementDigest}...],
//	                   documents:{<documentId>:{tableName, tableId, statements:[int...]}...}},
//	  revisionSummaries:[{hash, documentId}...],
//	  redactionInfo:{revisions:[{blockAddress, tableId, documentId, version}]}}}
//
// redactionInfo is written only for a block that redacted a revision (its
// shape in QLDB's streams is UNCONFIRMED).
// documents is omitted when b.TransactionInfo.Documents is empty and
// revisionSummaries when b.Revisions is empty (as QLDB did for read-only
// transactions); documentId is omitted for a system revision. Only Hash and
// Metadata.ID of b.Revisions are used. previousBlockHash is written as an
// empty blob when b.PreviousBlockHash is empty (the first block of a strand;
// what QLDB wrote there is unknown). Timestamps are truncated to milliseconds
// and written in UTC.
//
// It fails on a nil block, an empty stream ARN, strand ID or transaction ID, a
// hash that is not 32 bytes (previousBlockHash may also be empty), a
// document statement index outside TransactionInfo.Statements, a sequence
// number beyond math.MaxInt64 (QLDB's are Java longs; Decode refuses more),
// or a string that is not valid UTF-8.
func EncodeBlockSummary(streamARN string, b *journal.Block) ([]byte, error) {
	if err := checkBlock(streamARN, b); err != nil {
		return nil, err
	}
	w := newRecordEncoder()
	w.BeginStruct()
	writeHeader(w, streamARN, TypeBlockSummary)
	w.FieldName("payload")
	w.BeginStruct()
	if err := journal.WriteBlockHeader(w, b); err != nil {
		return nil, errf("encode BLOCK_SUMMARY: %v", err)
	}

	if len(b.Revisions) > 0 {
		w.FieldName("revisionSummaries")
		w.BeginList()
		for _, r := range b.Revisions {
			w.BeginStruct()
			w.FieldName("hash")
			w.WriteBlob(r.Hash)
			if !r.IsSystem() {
				w.FieldName("documentId")
				w.WriteString(r.Metadata.ID)
			}
			w.End()
		}
		w.End()
	}
	if b.RedactionInfo != nil {
		w.FieldName("redactionInfo")
		if err := w.WriteValue(b.RedactionInfo); err != nil {
			return nil, errf("encode BLOCK_SUMMARY: redactionInfo: %v", err)
		}
	}
	w.End() // payload
	w.End()
	return recordBytes(w)
}

// EncodeRevisionDetails encodes the REVISION_DETAILS record of rev, a
// revision written by the block at addr:
//
//	{qldbStreamArn, recordType:"REVISION_DETAILS", payload:{
//	  tableInfo:{tableName, tableId},
//	  revision:{blockAddress:{strandId, sequenceNo}, hash, data,
//	            metadata:{id, version, txTime, txId}}}}
//
// data is rev.Data written as is (any Ion value, annotations included) and is
// omitted, not null, when rev.Data is nil (a deleted document); a redacted
// revision (a replay after EXEC redact_revision) has dataHash instead. It fails for a
// system revision (QLDB publishes none), an empty stream ARN, strand ID, table
// name, table ID or transaction ID, a hash that is not 32 bytes, a sequence
// number or version beyond math.MaxInt64, or a string that is not valid UTF-8.
func EncodeRevisionDetails(streamARN string, addr journal.BlockAddress, rev journal.Revision) ([]byte, error) {
	switch {
	case streamARN == "":
		return nil, errf("encode REVISION_DETAILS: empty stream ARN")
	case rev.IsSystem():
		return nil, errf("encode REVISION_DETAILS: system revision (no document id) has no REVISION_DETAILS")
	case addr.StrandID == "":
		return nil, errf("encode REVISION_DETAILS: empty strand id")
	case addr.SequenceNo > math.MaxInt64 || rev.Metadata.Version > math.MaxInt64:
		return nil, errf("encode REVISION_DETAILS: document %s: sequenceNo %d or version %d beyond a signed 64-bit int", rev.Metadata.ID, addr.SequenceNo, rev.Metadata.Version)
	case rev.TableName == "" || rev.TableID == "":
		return nil, errf("encode REVISION_DETAILS: document %s: empty table name or id", rev.Metadata.ID)
	case rev.Metadata.TxID == "":
		return nil, errf("encode REVISION_DETAILS: document %s: empty txId", rev.Metadata.ID)
	case len(rev.Hash) != hashLen:
		return nil, errf("encode REVISION_DETAILS: document %s: hash has %d bytes, want %d", rev.Metadata.ID, len(rev.Hash), hashLen)
	}
	w := newRecordEncoder()
	w.BeginStruct()
	writeHeader(w, streamARN, TypeRevisionDetails)
	w.FieldName("payload")
	w.BeginStruct()
	w.FieldName("tableInfo")
	w.BeginStruct()
	w.FieldName("tableName")
	w.WriteString(rev.TableName)
	w.FieldName("tableId")
	w.WriteString(rev.TableID)
	w.End()
	w.FieldName("revision")
	w.BeginStruct()
	writeAddress(w, addr)
	w.FieldName("hash")
	w.WriteBlob(rev.Hash)
	if rev.Data != nil {
		w.FieldName("data")
		if err := w.WriteValue(rev.Data); err != nil {
			return nil, errf("encode REVISION_DETAILS: document %s: data: %v", rev.Metadata.ID, err)
		}
	} else if rev.DataHash != nil {
		w.FieldName("dataHash") // a redacted revision
		w.WriteBlob(rev.DataHash)
	}
	w.FieldName("metadata")
	w.BeginStruct()
	w.FieldName("id")
	w.WriteString(rev.Metadata.ID)
	w.FieldName("version")
	w.WriteUint(rev.Metadata.Version)
	w.FieldName("txTime")
	if err := writeTime(w, rev.Metadata.TxTime); err != nil {
		return nil, errf("encode REVISION_DETAILS: document %s: txTime: %v", rev.Metadata.ID, err)
	}
	w.FieldName("txId")
	w.WriteString(rev.Metadata.TxID)
	w.End() // metadata
	w.End() // revision
	w.End() // payload
	w.End()
	return recordBytes(w)
}

func writeHeader(w *ionvalue.Encoder, streamARN string, t RecordType) {
	w.FieldName("qldbStreamArn")
	w.WriteString(streamARN)
	w.FieldName("recordType")
	w.WriteString(string(t))
}

func writeAddress(w *ionvalue.Encoder, a journal.BlockAddress) {
	w.FieldName("blockAddress")
	w.BeginStruct()
	w.FieldName("strandId")
	w.WriteString(a.StrandID)
	w.FieldName("sequenceNo")
	w.WriteUint(a.SequenceNo)
	w.End()
}

// checkBlock validates what EncodeBlockSummary needs from b.
func checkBlock(streamARN string, b *journal.Block) error {
	switch {
	case streamARN == "":
		return errf("encode BLOCK_SUMMARY: empty stream ARN")
	case b == nil:
		return errf("encode BLOCK_SUMMARY: nil block")
	case b.Address.StrandID == "":
		return errf("encode BLOCK_SUMMARY: empty strand id")
	case b.Address.SequenceNo > math.MaxInt64:
		return errf("encode BLOCK_SUMMARY: sequenceNo %d beyond a signed 64-bit int", b.Address.SequenceNo)
	case b.TransactionID == "":
		return errf("encode BLOCK_SUMMARY: block %d: empty transaction id", b.Address.SequenceNo)
	}
	bad := func(what string, h []byte) error {
		return errf("encode BLOCK_SUMMARY: block %d: %s has %d bytes, want %d", b.Address.SequenceNo, what, len(h), hashLen)
	}
	if len(b.BlockHash) != hashLen {
		return bad("blockHash", b.BlockHash)
	}
	if len(b.EntriesHash) != hashLen {
		return bad("entriesHash", b.EntriesHash)
	}
	if n := len(b.PreviousBlockHash); n != 0 && n != hashLen {
		return bad("previousBlockHash", b.PreviousBlockHash)
	}
	for i, h := range b.EntriesHashList {
		if len(h) != hashLen {
			return bad(fmt.Sprintf("entriesHashList[%d]", i), h)
		}
	}
	for i, s := range b.TransactionInfo.Statements {
		if len(s.StatementDigest) != hashLen {
			return bad(fmt.Sprintf("statement %d statementDigest", i), s.StatementDigest)
		}
	}
	n := len(b.TransactionInfo.Statements)
	for _, d := range b.TransactionInfo.Documents {
		if d.DocumentID == "" {
			return errf("encode BLOCK_SUMMARY: block %d: document without id", b.Address.SequenceNo)
		}
		for _, idx := range d.Statements {
			if idx < 0 || idx >= n {
				return errf("encode BLOCK_SUMMARY: block %d: document %s: statement index %d outside [0,%d)", b.Address.SequenceNo, d.DocumentID, idx, n)
			}
		}
	}
	for i, r := range b.Revisions {
		if len(r.Hash) != hashLen {
			return bad(fmt.Sprintf("revision %d hash", i), r.Hash)
		}
	}
	return nil
}

// Records are Ion binary in the style of ion-java's managed binary writer,
// which QLDB used (ionvalue.IonJavaStyle): the Ion version marker, one local
// symbol table $ion_symbol_table::{symbols:[...]} without imports, then the
// record struct. The local symbols are every field name, annotation and
// symbol value that is not an Ion 1.0 system symbol, in order of first use.
// Floats inside revision data are binary64 and ints beyond int64 carry
// Java's BigInteger magnitude; timestamps store UTC fields plus the offset.

// ivm is the Ion 1.0 binary version marker that starts every record.
var ivm = ionvalue.BinaryVersionMarker[:]

// recordBytes returns the encoded record, or the error of a string field
// that is not valid UTF-8 (the decoder, like every Ion reader, refuses it).
func recordBytes(w *ionvalue.Encoder) ([]byte, error) {
	if err := w.Err(); err != nil {
		return nil, errf("encode: %w", err)
	}
	return w.Bytes(), nil
}

// newRecordEncoder returns an encoder for one record.
func newRecordEncoder() *ionvalue.Encoder { return ionvalue.NewEncoder(ionvalue.IonJavaStyle) }

// writeTime writes t as a UTC timestamp with millisecond precision, as QLDB
// writes blockTimestamp, startTime and txTime (Java Timestamp.forMillis(ms, 0)).
func writeTime(w *ionvalue.Encoder, t time.Time) error {
	t = t.UTC()
	if t.Year() < 1 || t.Year() > 9999 {
		return fmt.Errorf("timestamp %v: year out of range", t)
	}
	return w.WriteTimestamp(ionvalue.MillisTimestamp(t))
}
