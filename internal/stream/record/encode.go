package record

import (
	"fmt"

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
	w := newBinWriter()
	w.beginStruct()
	writeHeader(w, streamARN, TypeControl)
	w.field("payload")
	w.beginStruct()
	w.field("controlRecordType")
	w.writeString(controlType)
	w.end()
	w.end()
	return w.bytes(), nil
}

// EncodeBlockSummary encodes the BLOCK_SUMMARY record of b:
//
//	{qldbStreamArn, recordType:"BLOCK_SUMMARY", payload:{
//	  blockAddress:{strandId, sequenceNo}, transactionId, blockTimestamp,
//	  blockHash, entriesHash, previousBlockHash, entriesHashList:[blob...],
//	  transactionInfo:{statements:[{statement, startTime, statementDigest}...],
//	                   documents:{<documentId>:{tableName, tableId, statements:[int...]}...}},
//	  revisionSummaries:[{hash, documentId}...]}}
//
// documents is omitted when b.TransactionInfo.Documents is empty and
// revisionSummaries when b.Revisions is empty (as QLDB did for read-only
// transactions); documentId is omitted for a system revision. Only Hash and
// Metadata.ID of b.Revisions are used. previousBlockHash is written as an
// empty blob when b.PreviousBlockHash is empty (the first block of a strand;
// what QLDB wrote there is unknown). Timestamps are truncated to milliseconds
// and written in UTC.
//
// It fails on a nil block, an empty stream ARN, strand ID or transaction ID, a
// hash that is not 32 bytes (previousBlockHash may also be empty), or a
// document statement index outside TransactionInfo.Statements.
func EncodeBlockSummary(streamARN string, b *journal.Block) ([]byte, error) {
	if err := checkBlock(streamARN, b); err != nil {
		return nil, err
	}
	w := newBinWriter()
	w.beginStruct()
	writeHeader(w, streamARN, TypeBlockSummary)
	w.field("payload")
	w.beginStruct()
	writeAddress(w, b.Address)
	w.field("transactionId")
	w.writeString(b.TransactionID)
	w.field("blockTimestamp")
	if err := w.writeTime(b.Timestamp); err != nil {
		return nil, errf("encode BLOCK_SUMMARY: blockTimestamp: %v", err)
	}
	w.field("blockHash")
	w.writeLob(tcBlob, b.BlockHash)
	w.field("entriesHash")
	w.writeLob(tcBlob, b.EntriesHash)
	w.field("previousBlockHash")
	w.writeLob(tcBlob, b.PreviousBlockHash)
	w.field("entriesHashList")
	w.beginList()
	for _, h := range b.EntriesHashList {
		w.writeLob(tcBlob, h)
	}
	w.end()

	w.field("transactionInfo")
	w.beginStruct()
	w.field("statements")
	w.beginList()
	for i, s := range b.TransactionInfo.Statements {
		w.beginStruct()
		w.field("statement")
		w.writeString(s.Statement)
		w.field("startTime")
		if err := w.writeTime(s.StartTime); err != nil {
			return nil, errf("encode BLOCK_SUMMARY: statement %d startTime: %v", i, err)
		}
		w.field("statementDigest")
		w.writeLob(tcBlob, s.StatementDigest)
		w.end()
	}
	w.end()
	if docs := b.TransactionInfo.Documents; len(docs) > 0 {
		w.field("documents")
		w.beginStruct()
		for _, d := range docs {
			w.field(d.DocumentID)
			w.beginStruct()
			w.field("tableName")
			w.writeString(d.TableName)
			w.field("tableId")
			w.writeString(d.TableID)
			w.field("statements")
			w.beginList()
			for _, idx := range d.Statements {
				w.writeInt(int64(idx))
			}
			w.end()
			w.end()
		}
		w.end()
	}
	w.end() // transactionInfo

	if len(b.Revisions) > 0 {
		w.field("revisionSummaries")
		w.beginList()
		for _, r := range b.Revisions {
			w.beginStruct()
			w.field("hash")
			w.writeLob(tcBlob, r.Hash)
			if !r.IsSystem() {
				w.field("documentId")
				w.writeString(r.Metadata.ID)
			}
			w.end()
		}
		w.end()
	}
	w.end() // payload
	w.end()
	return w.bytes(), nil
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
// omitted, not null, when rev.Data is nil (a deleted document). It fails for a
// system revision (QLDB publishes none), an empty stream ARN, strand ID, table
// name, table ID or transaction ID, or a hash that is not 32 bytes.
func EncodeRevisionDetails(streamARN string, addr journal.BlockAddress, rev journal.Revision) ([]byte, error) {
	switch {
	case streamARN == "":
		return nil, errf("encode REVISION_DETAILS: empty stream ARN")
	case rev.IsSystem():
		return nil, errf("encode REVISION_DETAILS: system revision (no document id) has no REVISION_DETAILS")
	case addr.StrandID == "":
		return nil, errf("encode REVISION_DETAILS: empty strand id")
	case rev.TableName == "" || rev.TableID == "":
		return nil, errf("encode REVISION_DETAILS: document %s: empty table name or id", rev.Metadata.ID)
	case rev.Metadata.TxID == "":
		return nil, errf("encode REVISION_DETAILS: document %s: empty txId", rev.Metadata.ID)
	case len(rev.Hash) != hashLen:
		return nil, errf("encode REVISION_DETAILS: document %s: hash has %d bytes, want %d", rev.Metadata.ID, len(rev.Hash), hashLen)
	}
	w := newBinWriter()
	w.beginStruct()
	writeHeader(w, streamARN, TypeRevisionDetails)
	w.field("payload")
	w.beginStruct()
	w.field("tableInfo")
	w.beginStruct()
	w.field("tableName")
	w.writeString(rev.TableName)
	w.field("tableId")
	w.writeString(rev.TableID)
	w.end()
	w.field("revision")
	w.beginStruct()
	writeAddress(w, addr)
	w.field("hash")
	w.writeLob(tcBlob, rev.Hash)
	if rev.Data != nil {
		w.field("data")
		if err := w.writeValue(rev.Data); err != nil {
			return nil, errf("encode REVISION_DETAILS: document %s: data: %v", rev.Metadata.ID, err)
		}
	}
	w.field("metadata")
	w.beginStruct()
	w.field("id")
	w.writeString(rev.Metadata.ID)
	w.field("version")
	w.writeUint(tcPosInt, rev.Metadata.Version)
	w.field("txTime")
	if err := w.writeTime(rev.Metadata.TxTime); err != nil {
		return nil, errf("encode REVISION_DETAILS: document %s: txTime: %v", rev.Metadata.ID, err)
	}
	w.field("txId")
	w.writeString(rev.Metadata.TxID)
	w.end() // metadata
	w.end() // revision
	w.end() // payload
	w.end()
	return w.bytes(), nil
}

func writeHeader(w *binWriter, streamARN string, t RecordType) {
	w.field("qldbStreamArn")
	w.writeString(streamARN)
	w.field("recordType")
	w.writeString(string(t))
}

func writeAddress(w *binWriter, a journal.BlockAddress) {
	w.field("blockAddress")
	w.beginStruct()
	w.field("strandId")
	w.writeString(a.StrandID)
	w.field("sequenceNo")
	w.writeUint(tcPosInt, a.SequenceNo)
	w.end()
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
