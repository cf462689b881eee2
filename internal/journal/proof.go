package journal

import (
	"errors"
	"fmt"

	"github.com/strand-db/strand/internal/qldbhash"
)

// ErrProof is wrapped by every error RevisionProof returns.
var ErrProof = errors.New("journal: cannot build proof")

// DocumentRevision returns the index in b.Revisions of the revision b wrote
// for document docID, and false when b wrote none (system revisions never
// match). A block writes at most one revision per document.
func (b *Block) DocumentRevision(docID string) (int, bool) {
	if docID == "" {
		return 0, false
	}
	for i := range b.Revisions {
		if b.Revisions[i].Metadata.ID == docID {
			return i, true
		}
	}
	return 0, false
}

// RevisionProof returns the GetRevision proof (reference §3.5) of revision
// b.Revisions[revIndex] against a ledger digest, given ledgerProof, the
// ledger-tree proof of b's blockHash at the digest's tip (what GetBlock
// returns; nil or empty to stop at blockHash). In order, it holds:
//
//  1. the audit path of the revision in the Merkle tree over the hashes of
//     b.Revisions, in block order (system revisions included);
//  2. the audit path of that tree's root in the Merkle tree over
//     b.EntriesHashList (the first entry equal to the root);
//  3. b.PreviousBlockHash, which turns entriesHash into blockHash, except
//     for a block without a previous hash (the first block of a strand):
//     there Dot(entriesHash, empty) = entriesHash = blockHash, so the
//     element would be an empty blob that folds as the identity; it is left
//     out so that every element of the proof is a 32-byte hash, which is
//     what verifiers that read proofs as hashes expect;
//  4. ledgerProof.
//
// So qldbhash.Fold(b.Revisions[revIndex].Hash, proof) equals the digest
// whenever b is a sealed block (VerifyBlock passes) and ledgerProof is right.
// For QLDB's real block 100 of vehicle-registration this reproduces QLDB's
// own proof element for element. The result shares memory with b and
// ledgerProof; callers must not modify it.
//
// It fails, with an error wrapping ErrProof, when revIndex is out of range,
// when a revision hash is not 32 bytes, or when the revisions' root is not in
// b.EntriesHashList (a block that would not pass VerifyBlock).
func RevisionProof(b *Block, revIndex int, ledgerProof [][]byte) ([][]byte, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: nil block", ErrProof)
	}
	if revIndex < 0 || revIndex >= len(b.Revisions) {
		return nil, fmt.Errorf("%w: block %d has no revision %d (it has %d)", ErrProof, b.Address.SequenceNo, revIndex, len(b.Revisions))
	}
	revs := b.revisionHashes()
	for i, h := range revs {
		if err := qldbhash.CheckHash(h); err != nil {
			return nil, fmt.Errorf("%w: block %d revision %d: %w", ErrProof, b.Address.SequenceNo, i, err)
		}
	}
	root := qldbhash.MerkleRoot(revs)
	entry := -1
	for i, h := range b.EntriesHashList {
		if string(h) == string(root) {
			entry = i
			break
		}
	}
	if entry < 0 {
		return nil, fmt.Errorf("%w: block %d: the revisions' Merkle root %x is not in entriesHashList", ErrProof, b.Address.SequenceNo, root)
	}
	revPath := qldbhash.AuditPath(revs, revIndex)
	entryPath := qldbhash.AuditPath(b.EntriesHashList, entry)
	proof := make([][]byte, 0, len(revPath)+len(entryPath)+1+len(ledgerProof))
	proof = append(proof, revPath...)
	proof = append(proof, entryPath...)
	if len(b.PreviousBlockHash) > 0 {
		proof = append(proof, b.PreviousBlockHash)
	}
	return append(proof, ledgerProof...), nil
}
