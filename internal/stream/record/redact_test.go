package record

import (
	"bytes"
	"testing"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
)

// TestRedactionInStreamRecords: a redacted revision's REVISION_DETAILS
// carries dataHash and no data, and a redacting block's BLOCK_SUMMARY
// carries its redactionInfo; both decode back.
func TestRedactionInStreamRecords(t *testing.T) {
	rev := testRevision(nil)
	rev.DataHash = hash("removed data")
	b, err := EncodeRevisionDetails(testARN, journal.BlockAddress{StrandID: "s", SequenceNo: 9}, rev)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.Revision.Revision; got.Data != nil || !bytes.Equal(got.DataHash, rev.DataHash) {
		t.Errorf("decoded redacted revision %+v", got)
	}

	blk := testBlock()
	blk.RedactionInfo = journal.RedactionInfo(journal.RedactionTarget{Block: journal.BlockAddress{StrandID: "s", SequenceNo: 3}, TableID: "t", DocumentID: "d", Version: 2})
	b, err = EncodeBlockSummary(testARN, blk)
	if err != nil {
		t.Fatal(err)
	}
	if rec, err = Decode(b); err != nil {
		t.Fatal(err)
	}
	if !ionvalue.Equal(rec.Block.RedactionInfo, blk.RedactionInfo) {
		t.Errorf("decoded redactionInfo %v, want %v", rec.Block.RedactionInfo, blk.RedactionInfo)
	}
}
