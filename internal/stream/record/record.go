// Package record encodes and decodes the records a QLDB journal stream writes
// to Kinesis: CONTROL, BLOCK_SUMMARY and REVISION_DETAILS.
//
// Every encoded record is a self-contained Ion 1.0 binary stream, byte for
// byte as QLDB wrote it: the Ion version marker, a local symbol table of its
// own (no imports; every non-system field name, in order of first use), then
// exactly one top-level struct
//
//	{qldbStreamArn: string, recordType: string, payload: {...}}
//
// IDs, names, statements and record/control types are Ion strings (never
// symbols), hashes are blobs, sequenceNo, version and statement indexes are
// ints, and blockTimestamp, startTime and txTime are UTC timestamps with
// millisecond precision (e.g. 2020-07-03T20:36:44.181Z). Re-encoding a decoded
// real QLDB record reproduces its bytes exactly (see the package tests).
//
// The partition keys are those QLDB used: the lowercase hex of blockHash for
// BLOCK_SUMMARY and of the revision hash for REVISION_DETAILS; for CONTROL,
// which no captured record shows, see ControlPartitionKey.
package record

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/strand-db/strand/internal/journal"
)

// RecordType is the recordType string of a stream record.
type RecordType string

// The three record types QLDB streams write.
const (
	TypeControl         RecordType = "CONTROL"
	TypeBlockSummary    RecordType = "BLOCK_SUMMARY"
	TypeRevisionDetails RecordType = "REVISION_DETAILS"
)

// Control record types. CREATED is the first record of every stream;
// COMPLETED is the last record of a stream that reached its ExclusiveEndTime
// (a cancelled stream writes none).
const (
	ControlCreated   = "CREATED"
	ControlCompleted = "COMPLETED"
)

// Record is one decoded stream record. Exactly one of ControlType, Block and
// Revision is set, according to Type.
type Record struct {
	StreamARN string
	Type      RecordType

	// ControlType is payload.controlRecordType of a CONTROL record.
	ControlType string

	// Block holds a BLOCK_SUMMARY. Its Revisions are the revisionSummaries:
	// only Hash and Metadata.ID (the documentId, empty for a system revision)
	// are set; a summary record carries no revision data.
	Block *journal.Block

	// Revision holds a REVISION_DETAILS.
	Revision *RevisionDetails
}

// RevisionDetails is the payload of a REVISION_DETAILS record: the address of
// the block that wrote the revision and the revision itself, with
// Revision.TableName/TableID taken from tableInfo and Revision.Data nil for a
// deleted document.
type RevisionDetails struct {
	Address  journal.BlockAddress
	Revision journal.Revision
}

// BlockSummaryPartitionKey returns the Kinesis partition key QLDB used for the
// BLOCK_SUMMARY of b: the lowercase hex of b.BlockHash (64 characters).
func BlockSummaryPartitionKey(b *journal.Block) string { return hex.EncodeToString(b.BlockHash) }

// RevisionDetailsPartitionKey returns the Kinesis partition key QLDB used for
// the REVISION_DETAILS of rev: the lowercase hex of rev.Hash (64 characters).
func RevisionDetailsPartitionKey(rev journal.Revision) string { return hex.EncodeToString(rev.Hash) }

// ControlPartitionKey returns the partition key Strand uses for a CONTROL
// record. QLDB's rule is unknown (no CONTROL record was ever captured), so
// Strand keeps the shape of the other keys (64 lowercase hex characters, a
// content hash) and derives it from the stream alone, so that every CONTROL
// record of a stream (and any retry of one) lands on the same shard, where
// Kinesis keeps them in order: CREATED is always read before COMPLETED. The
// key is
//
//	hex(SHA-256(UTF-8(streamARN)))
//
// controlType does not enter it.
func ControlPartitionKey(streamARN, controlType string) string {
	sum := sha256.Sum256([]byte(streamARN))
	return hex.EncodeToString(sum[:])
}

// PartitionKey returns the partition key of r by the same rules as
// ControlPartitionKey, BlockSummaryPartitionKey and
// RevisionDetailsPartitionKey, or "" when r has no payload for its Type.
func (r *Record) PartitionKey() string {
	switch {
	case r.Type == TypeControl:
		return ControlPartitionKey(r.StreamARN, r.ControlType)
	case r.Type == TypeBlockSummary && r.Block != nil:
		return BlockSummaryPartitionKey(r.Block)
	case r.Type == TypeRevisionDetails && r.Revision != nil:
		return RevisionDetailsPartitionKey(r.Revision.Revision)
	}
	return ""
}

// Encode re-encodes r with EncodeControl, EncodeBlockSummary or
// EncodeRevisionDetails according to r.Type.
func (r *Record) Encode() ([]byte, error) {
	switch r.Type {
	case TypeControl:
		return EncodeControl(r.StreamARN, r.ControlType)
	case TypeBlockSummary:
		return EncodeBlockSummary(r.StreamARN, r.Block)
	case TypeRevisionDetails:
		if r.Revision == nil {
			return nil, errf("encode: REVISION_DETAILS without revision")
		}
		return EncodeRevisionDetails(r.StreamARN, r.Revision.Address, r.Revision.Revision)
	}
	return nil, errf("encode: unknown record type %q", r.Type)
}
