package journal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/qldbhash"
)

// TestRevisionProofVehicleRegistration assembles the GetRevision proof of the
// real block 100 from the block's own entriesHashList and previousBlockHash
// plus QLDB's GetBlock proof, and checks it is QLDB's proof element for
// element and folds to QLDB's digest.
func TestRevisionProofVehicleRegistration(t *testing.T) {
	vs := loadIon(t, "vehicle-registration-block100.ion")
	b, err := BlockFromIon(unannotated(vs[0]))
	if err != nil {
		t.Fatal(err)
	}
	blockProof, want, digest := blobs(vs[1]), blobs(vs[2]), vs[3].Get("digest").Bytes
	i, ok := b.DocumentRevision("JUJgkIcNbhS2goq8RqLuZ4")
	if !ok || i != 0 {
		t.Fatalf("DocumentRevision = %d, %v", i, ok)
	}
	got, err := RevisionProof(b, i, blockProof)
	if err != nil {
		t.Fatal(err)
	}
	if !equalProofs(got, want) {
		t.Fatalf("assembled proof differs from QLDB's:\n got %x\nwant %x", got, want)
	}
	if f := qldbhash.Fold(b.Revisions[i].Hash, got); !bytes.Equal(f, digest) {
		t.Errorf("proof folds to %x, digest %x", f, digest)
	}
	if _, ok := b.DocumentRevision("NotInThisBlockAAAAAAAA"); ok {
		t.Error("DocumentRevision found a document the block did not write")
	}
	if _, ok := b.DocumentRevision(""); ok {
		t.Error("DocumentRevision matched an empty id")
	}
}

// randHash returns 32 random bytes.
func randHash(r *rand.Rand) []byte {
	h := make([]byte, qldbhash.Size)
	for i := range h {
		h[i] = byte(r.Uint32())
	}
	return h
}

// TestRevisionProofShape rebuilds the structure of the real vector with
// synthetic hashes (one revision; four entries, the revisions' root second)
// and checks the proof's shape (no revision sibling, two entries siblings,
// previousBlockHash, then the ledger siblings) and that it folds to the
// ledger root.
func TestRevisionProofShape(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	rev := randHash(r)
	b := &Block{
		Address:           BlockAddress{StrandID: "SSSSSSSSSSSSSSSSSSSSSS", SequenceNo: 100},
		PreviousBlockHash: randHash(r),
		EntriesHashList:   [][]byte{randHash(r), rev, randHash(r), randHash(r)},
		Revisions:         []Revision{{Hash: rev, Metadata: RevisionMetadata{ID: "DocAAAAAAAAAAAAAAAAAAA"}}},
	}
	b.EntriesHash = qldbhash.MerkleRoot(b.EntriesHashList)
	b.BlockHash = qldbhash.Dot(b.EntriesHash, b.PreviousBlockHash)

	leaves := testLeaves(124) // blocks 0..123, the vector's tip
	leaves[100] = b.BlockHash
	tree, mem := buildMem(t, leaves)
	ledger, err := tree.InclusionProof(mem, 100, 124)
	if err != nil {
		t.Fatal(err)
	}
	if len(ledger) != 7 {
		t.Fatalf("ledger proof has %d siblings, the vector's has 7", len(ledger))
	}
	proof, err := RevisionProof(b, 0, ledger)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]byte{
		b.EntriesHashList[0], // entries sibling at level 0
		qldbhash.Dot(b.EntriesHashList[2], b.EntriesHashList[3]), // entries sibling at level 1
		b.PreviousBlockHash,
	}
	want = append(want, ledger...)
	if !equalProofs(proof, want) {
		t.Fatalf("proof shape:\n got %x\nwant %x", proof, want)
	}
	if got := qldbhash.Fold(rev, proof); !bytes.Equal(got, tree.Root()) {
		t.Errorf("proof folds to %x, ledger root %x", got, tree.Root())
	}
	// Flipping one bit of the leaf or of any proof element breaks the fold.
	for i := -1; i < len(proof); i++ {
		leaf, p := bytes.Clone(rev), make([][]byte, len(proof))
		for j := range proof {
			p[j] = bytes.Clone(proof[j])
		}
		if i < 0 {
			leaf[r.IntN(len(leaf))] ^= 1 << r.IntN(8)
		} else {
			p[i][r.IntN(len(p[i]))] ^= 1 << r.IntN(8)
		}
		if bytes.Equal(qldbhash.Fold(leaf, p), tree.Root()) {
			t.Errorf("a flipped bit in element %d still folds to the root", i)
		}
	}
}

// sealedChain builds n sealed blocks chained from an empty previous hash,
// block i holding 1 + i%9 document revisions (and a system revision every
// third block), so every revision tree shape up to nine leaves appears.
func sealedChain(n int) []*Block {
	var out []*Block
	var prevHash []byte
	for i := 0; i < n; i++ {
		b := testBlock()
		b.Address.SequenceNo = uint64(i)
		b.TransactionInfo.Documents = nil
		b.Revisions = nil
		for j := 0; j < 1+i%9; j++ {
			id := fmt.Sprintf("Doc%019d", i*10+j)
			b.Revisions = append(b.Revisions, Revision{
				Data:     ionvalue.Struct(ionvalue.Field{Name: "n", Value: ionvalue.Int(int64(j))}),
				Metadata: RevisionMetadata{ID: id, Version: uint64(j), TxTime: t0, TxID: b.TransactionID},
			})
			b.TransactionInfo.Documents = append(b.TransactionInfo.Documents, DocumentInfo{DocumentID: id, TableName: "T", TableID: "TabAAAAAAAAAAAAAAAAAAA", Statements: []int{1}})
			if i%3 == 0 && j == 0 {
				b.Revisions = append(b.Revisions, Revision{Hash: qldbhash.HashString(fmt.Sprint("system ", i))})
			}
		}
		b.Seal(prevHash)
		prevHash = b.BlockHash
		out = append(out, b)
	}
	return out
}

// TestRevisionProofSealedBlocks checks, for every revision of a chain of
// sealed blocks and several tips, that the proof folds to the ledger root at
// the tip, and that the genesis block's proof (no previous hash) has only
// 32-byte elements and still folds.
func TestRevisionProofSealedBlocks(t *testing.T) {
	blocks := sealedChain(40)
	leaves := make([][]byte, len(blocks))
	for i, b := range blocks {
		leaves[i] = b.BlockHash
	}
	tree, mem := buildMem(t, leaves)
	for _, tip := range []int{0, 1, 7, 8, 21, 39} {
		root, err := tree.RootAt(mem, uint64(tip+1))
		if err != nil {
			t.Fatal(err)
		}
		for seq := 0; seq <= tip; seq++ {
			b := blocks[seq]
			ledger, err := tree.InclusionProof(mem, uint64(seq), uint64(tip+1))
			if err != nil {
				t.Fatal(err)
			}
			for i, rev := range b.Revisions {
				proof, err := RevisionProof(b, i, ledger)
				if err != nil {
					t.Fatalf("block %d revision %d: %v", seq, i, err)
				}
				for k, p := range proof {
					if len(p) != qldbhash.Size {
						t.Fatalf("block %d revision %d: proof element %d has %d bytes", seq, i, k, len(p))
					}
				}
				if got := qldbhash.Fold(rev.Hash, proof); !bytes.Equal(got, root) {
					t.Fatalf("block %d revision %d tip %d: folds to %x, root %x", seq, i, tip, got, root)
				}
				// Without the ledger part it stops at blockHash.
				short, _ := RevisionProof(b, i, nil)
				if got := qldbhash.Fold(rev.Hash, short); !bytes.Equal(got, b.BlockHash) {
					t.Fatalf("block %d revision %d: short proof folds to %x, blockHash %x", seq, i, got, b.BlockHash)
				}
			}
		}
	}
	// The genesis block: blockHash = entriesHash, and no element stands for
	// the empty previous hash.
	g := blocks[0]
	short, _ := RevisionProof(g, 0, nil)
	if want := len(qldbhash.AuditPath(g.revisionHashes(), 0)) + len(qldbhash.AuditPath(g.EntriesHashList, 0)); len(short) != want {
		t.Errorf("genesis proof has %d elements, want %d (no previousBlockHash)", len(short), want)
	}
	// Folding with an empty element is the identity, so a proof that kept
	// it would fold the same: the choice is about element lengths only.
	if !bytes.Equal(qldbhash.Fold(g.Revisions[0].Hash, append(short, nil)), g.BlockHash) {
		t.Error("an empty trailing element changed the fold")
	}
}

func TestRevisionProofErrors(t *testing.T) {
	b := sealedChain(2)[1]
	cases := []struct {
		name string
		b    *Block
		i    int
	}{
		{"nil block", nil, 0},
		{"negative index", b, -1},
		{"index past the end", b, len(b.Revisions)},
		{"root missing from entries", func() *Block {
			c := cloneBlock(b)
			c.EntriesHashList = c.EntriesHashList[1:]
			return c
		}(), 0},
		{"short revision hash", func() *Block {
			c := cloneBlock(b)
			c.Revisions[0].Hash = c.Revisions[0].Hash[:31]
			return c
		}(), 0},
	}
	for _, c := range cases {
		if _, err := RevisionProof(c.b, c.i, nil); !errors.Is(err, ErrProof) {
			t.Errorf("%s: err = %v, want ErrProof", c.name, err)
		}
	}
}
