// Package journal turns committed transactions into QLDB journal blocks:
// revisions with metadata, transactionInfo, entriesHashList, entriesHash and a
// blockHash chained to the previous block, all hashed exactly as QLDB did.
package journal

import (
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
)

// BlockAddress locates a block in a ledger's journal: QLDB ledgers have one
// strand, and sequence numbers start at 0.
type BlockAddress struct {
	StrandID   string
	SequenceNo uint64
}

// Block is one committed journal block, with the field set of QLDB's
// GetBlock output and BLOCK_SUMMARY stream records.
type Block struct {
	Address           BlockAddress
	TransactionID     string
	Timestamp         time.Time // millisecond precision, UTC
	BlockHash         []byte
	EntriesHash       []byte
	PreviousBlockHash []byte // empty for the first block of a strand
	EntriesHashList   [][]byte
	TransactionInfo   TransactionInfo
	Revisions         []Revision
	// RedactionInfo is set on the block of a transaction that redacted a
	// revision (EXEC redact_revision): {revisions:[{blockAddress, tableId,
	// documentId, version}]}. H(RedactionInfo) is then an entry of
	// EntriesHashList. nil otherwise. See redact.go.
	RedactionInfo *ionvalue.Value
}

// TransactionInfo lists every statement of the transaction and which
// documents each statement touched.
type TransactionInfo struct {
	Statements []StatementInfo
	Documents  []DocumentInfo // in first-touched order; keyed by DocumentID in Ion
}

// StatementInfo is one executed statement: its text exactly as sent (with ?
// placeholders), when it started, and its digest (the driver's per-statement
// hash: H(statement) folded with the hash of each parameter).
type StatementInfo struct {
	Statement       string
	StartTime       time.Time // millisecond precision, UTC
	StatementDigest []byte
}

// DocumentInfo names the table of a touched document and the 0-based indexes
// of the statements that touched it (an index may repeat).
type DocumentInfo struct {
	DocumentID string
	TableName  string
	TableID    string
	Statements []int
}

// Revision is one document revision written by a block. A system revision
// (DDL, catalog changes) has only Hash set and an empty DocumentID. A deleted
// document's revision has Data == nil.
type Revision struct {
	Hash []byte
	Data *ionvalue.Value // nil for a delete, a redacted or a system revision
	// DataHash is set, and Data nil, once the revision has been redacted:
	// it is H(data) of the data that was removed, so Hash still verifies.
	DataHash []byte
	Metadata RevisionMetadata
	// TableName and TableID identify the user table of a document revision.
	TableName string
	TableID   string
}

// RevisionMetadata is QLDB's revision metadata {id, version, txTime, txId}.
type RevisionMetadata struct {
	ID      string
	Version uint64
	TxTime  time.Time // millisecond precision, UTC
	TxID    string
}

// IsRedacted reports whether r's data was redacted (replaced by DataHash).
func (r Revision) IsRedacted() bool { return r.DataHash != nil }

// IsSystem reports whether r is an internal revision without a document id.
func (r Revision) IsSystem() bool { return r.Metadata.ID == "" }
