package journal

import (
	"errors"
	"testing"

	"github.com/strand-db/strand/internal/qldbhash"
)

// TestRedactedBlockVerifies checks that a block whose revision was redacted
// (data replaced by its hash) keeps its hashes, still passes VerifyBlock,
// round-trips through its stored form with dataHash, and that a dataHash
// that does not match, or a redactionInfo missing from entriesHashList,
// fails verification.
func TestRedactedBlockVerifies(t *testing.T) {
	b := testBlock()
	b.Seal(prev)
	hash := b.BlockHash
	i, err := FindRedactable(b, "TabAAAAAAAAAAAAAAAAAAA", "DocBBBBBBBBBBBBBBBBBBB")
	if err != nil {
		t.Fatal(err)
	}
	want := qldbhash.Hash(b.Revisions[i].Data)
	if err := Redact(b, i); err != nil {
		t.Fatal(err)
	}
	if string(b.Revisions[i].DataHash) != string(want) || b.Revisions[i].Data != nil {
		t.Fatalf("redacted revision %+v", b.Revisions[i])
	}
	if err := VerifyBlock(b, prev); err != nil {
		t.Fatalf("redacted block: %v", err)
	}
	raw, err := EncodeBlock(b)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeBlock(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Revisions[i].IsRedacted() || string(back.BlockHash) != string(hash) {
		t.Fatalf("decoded: %+v", back.Revisions[i])
	}
	if err := VerifyBlock(back, prev); err != nil {
		t.Fatalf("decoded redacted block: %v", err)
	}
	if _, err := FindRedactable(back, "TabAAAAAAAAAAAAAAAAAAA", "DocBBBBBBBBBBBBBBBBBBB"); !errors.Is(err, ErrAlreadyRedacted) {
		t.Errorf("FindRedactable of a redacted revision: %v", err)
	}
	if _, err := FindRedactable(back, "TabAAAAAAAAAAAAAAAAAAA", "DocCCCCCCCCCCCCCCCCCCC"); !errors.Is(err, ErrDeletionRevision) {
		t.Errorf("FindRedactable of a deletion: %v", err)
	}
	if _, err := FindRedactable(back, "Other", "DocBBBBBBBBBBBBBBBBBBB"); !errors.Is(err, ErrNoRevision) {
		t.Errorf("FindRedactable in another table: %v", err)
	}
	back.Revisions[i].DataHash = qldbhash.HashString("something else")
	if err := VerifyBlock(back, prev); !errors.Is(err, ErrVerify) {
		t.Errorf("a wrong dataHash verifies: %v", err)
	}

	r := testBlock()
	r.RedactionInfo = RedactionInfo(RedactionTarget{Block: BlockAddress{StrandID: "S", SequenceNo: 3}, TableID: "T", DocumentID: "D", Version: 1})
	r.Seal(prev)
	if err := VerifyBlock(r, prev); err != nil {
		t.Fatalf("block with redactionInfo: %v", err)
	}
	raw, err = EncodeBlock(r)
	if err != nil {
		t.Fatal(err)
	}
	if back, err = DecodeBlock(raw); err != nil || back.RedactionInfo == nil {
		t.Fatalf("decoded block with redactionInfo: %v", err)
	}
	if err := VerifyBlock(back, prev); err != nil {
		t.Fatalf("decoded block with redactionInfo: %v", err)
	}
	r.EntriesHashList = r.EntriesHashList[:len(r.EntriesHashList)-1]
	r.EntriesHash = qldbhash.MerkleRoot(r.EntriesHashList)
	r.BlockHash = qldbhash.Dot(r.EntriesHash, r.PreviousBlockHash)
	if err := VerifyBlock(r, prev); !errors.Is(err, ErrVerify) {
		t.Errorf("redactionInfo outside entriesHashList verifies: %v", err)
	}
}
