package export

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/qldbhash"
)

// Digest is a saved QLDB digest: the ledger digest at a tip block, and
// optionally the proof of one block (Block) against it.
type Digest struct {
	Digest []byte
	Strand string
	Tip    uint64
	Proof  [][]byte
	Block  uint64 // the block Proof starts from (the tip when not given)
}

// ParseDigest reads a saved digest file: the JSON of `aws qldb get-digest`
// ({"Digest": base64, "DigestTipAddress": {"IonText": "{strandId:..., sequenceNo:N}"}}),
// optionally with "Proof" (base64 hashes, as GetBlock returns them) and
// "LastBlockNum" (the block the proof is for), as the QLDB migration
// sample saves them beside each export. DigestTipAddress may also be the
// Ion text itself or an object {strandId, sequenceNo}.
func ParseDigest(raw []byte) (*Digest, error) {
	var f struct {
		Digest           string          `json:"Digest"`
		DigestTipAddress json.RawMessage `json:"DigestTipAddress"`
		Proof            json.RawMessage `json:"Proof"`
		LastBlockNum     *uint64         `json:"LastBlockNum"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("export: digest file: %w", err)
	}
	d := &Digest{}
	var err error
	if d.Digest, err = base64.StdEncoding.DecodeString(f.Digest); err != nil || len(d.Digest) != qldbhash.Size {
		return nil, errors.New("export: digest file: Digest is not a base64 SHA-256 hash")
	}
	addr, err := tipAddress(f.DigestTipAddress)
	if err != nil {
		return nil, fmt.Errorf("export: digest file: DigestTipAddress: %w", err)
	}
	d.Strand, d.Tip, d.Block = addr.StrandID, addr.SequenceNo, addr.SequenceNo
	if f.LastBlockNum != nil {
		d.Block = *f.LastBlockNum
	}
	if len(f.Proof) > 0 && string(f.Proof) != "null" {
		var list []string
		if err := json.Unmarshal(f.Proof, &list); err != nil {
			// GetBlock's own shape: {"IonText": "[{{...}}, ...]"}.
			var ionText struct{ IonText string }
			if json.Unmarshal(f.Proof, &ionText) != nil || ionText.IonText == "" {
				return nil, errors.New("export: digest file: Proof is neither a list of base64 hashes nor {IonText}")
			}
			v, err := ionvalue.DecodeOne([]byte(ionText.IonText))
			if err != nil || v.Type != ion.ListType {
				return nil, errors.New("export: digest file: Proof.IonText is not an Ion list")
			}
			for _, e := range v.Elems {
				d.Proof = append(d.Proof, e.Bytes)
			}
		} else {
			for _, s := range list {
				h, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					return nil, fmt.Errorf("export: digest file: Proof: %w", err)
				}
				d.Proof = append(d.Proof, h)
			}
		}
	}
	return d, nil
}

func tipAddress(raw json.RawMessage) (journal.BlockAddress, error) {
	var text string
	if json.Unmarshal(raw, &text) != nil {
		var obj struct {
			IonText    string  `json:"IonText"`
			StrandID   string  `json:"strandId"`
			SequenceNo *uint64 `json:"sequenceNo"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			return journal.BlockAddress{}, err
		}
		if obj.IonText == "" {
			if obj.SequenceNo == nil || obj.StrandID == "" {
				return journal.BlockAddress{}, errors.New("no strandId and sequenceNo")
			}
			return journal.BlockAddress{StrandID: obj.StrandID, SequenceNo: *obj.SequenceNo}, nil
		}
		text = obj.IonText
	}
	v, err := ionvalue.DecodeOne([]byte(text))
	if err != nil {
		return journal.BlockAddress{}, err
	}
	return journal.AddressFromIon(v)
}

// Checker checks imported blocks one by one, in order, before anything is
// written: each block's own hashes (the DMV samples' checks: revision
// hashes, transactionInfo, entriesHash, blockHash) and its link to the
// previous one, and, given a Digest, that the journal reaches it. For a
// JSON export (ChainOnly), whose Ion types are lost, only what survives
// JSON is checked: entriesHash, blockHash, the links, and that the
// revisions' Merkle root is in entriesHashList.
type Checker struct {
	ChainOnly bool
	Digest    *Digest

	started bool
	strand  string
	next    uint64
	prev    []byte
	tree    *journal.Tree // when the blocks start at 0: the ledger tree, for the digest
	proved  bool
	Hashes  [][]byte // every checked block's hash, in order
}

type discardNodes struct{}

func (discardNodes) SetNode(uint8, uint64, []byte) error { return nil }

// BadBlockError names the first block that failed a check.
type BadBlockError struct {
	Strand string
	Seq    uint64
	Key    string // the data object holding it
	Err    error
}

func (e *BadBlockError) Error() string {
	return fmt.Sprintf("block %s/%d (in %s) does not verify: %v", e.Strand, e.Seq, e.Key, e.Err)
}

func (e *BadBlockError) Unwrap() error { return e.Err }

// Check checks the next block (read from the data object key).
func (c *Checker) Check(b *journal.Block, key string) error {
	bad := func(err error) error {
		return &BadBlockError{Strand: b.Address.StrandID, Seq: b.Address.SequenceNo, Key: key, Err: err}
	}
	if !c.started {
		c.started, c.strand, c.next = true, b.Address.StrandID, b.Address.SequenceNo
		c.prev = b.PreviousBlockHash // the first block can only be checked on its own
		if b.Address.SequenceNo == 0 {
			c.prev = nil
			c.tree = journal.NewTree()
		}
	}
	if b.Address.StrandID != c.strand {
		return bad(fmt.Errorf("strand %s, the export's first block is of strand %s", b.Address.StrandID, c.strand))
	}
	if b.Address.SequenceNo != c.next {
		return bad(fmt.Errorf("expected block %d here", c.next))
	}
	if c.ChainOnly {
		if err := checkChain(b, c.prev); err != nil {
			return bad(err)
		}
	} else if err := journal.VerifyBlock(b, c.prev); err != nil {
		return bad(err)
	}
	if c.tree != nil {
		if err := c.tree.Append(discardNodes{}, b.BlockHash); err != nil {
			return bad(err)
		}
	}
	if d := c.Digest; d != nil {
		if d.Strand != c.strand {
			return fmt.Errorf("export: the digest is of strand %s, the export of strand %s", d.Strand, c.strand)
		}
		if len(d.Proof) > 0 && b.Address.SequenceNo == d.Block {
			if !bytes.Equal(qldbhash.Fold(b.BlockHash, d.Proof), d.Digest) {
				return bad(fmt.Errorf("its hash and the digest file's proof do not fold to the digest %x", d.Digest))
			}
			c.proved = true
		}
		if c.tree != nil && b.Address.SequenceNo == d.Tip {
			if root := c.tree.Root(); !bytes.Equal(root, d.Digest) {
				return bad(fmt.Errorf("the ledger digest at this tip is %x, the digest file says %x", root, d.Digest))
			}
			c.proved = true
		}
	}
	c.prev = b.BlockHash
	c.next++
	c.Hashes = append(c.Hashes, b.BlockHash)
	return nil
}

// Finish reports whether the digest (if any) was proved.
func (c *Checker) Finish() error {
	if c.Digest == nil || c.proved {
		return nil
	}
	d := c.Digest
	switch {
	case d.Tip >= c.next:
		return fmt.Errorf("export: the digest's tip is block %d but the export ends at block %d: export up to the digest's tip", d.Tip, c.next-1)
	default:
		return errors.New("export: the export does not start at block 0 and the digest file has no proof of one of its blocks: the digest cannot be checked")
	}
}

// checkChain is the part of the block checks that JSON keeps.
func checkChain(b *journal.Block, prev []byte) error {
	var fails []string
	if !bytes.Equal(b.PreviousBlockHash, prev) {
		fails = append(fails, fmt.Sprintf("previousBlockHash %x does not chain to the previous block hash %x", b.PreviousBlockHash, prev))
	}
	if len(b.Revisions) > 0 {
		hs := make([][]byte, len(b.Revisions))
		for i, r := range b.Revisions {
			hs[i] = r.Hash
		}
		root := qldbhash.MerkleRoot(hs)
		found := false
		for _, e := range b.EntriesHashList {
			found = found || bytes.Equal(e, root)
		}
		if !found {
			fails = append(fails, "revisions Merkle root is not in entriesHashList")
		}
	}
	if !bytes.Equal(qldbhash.MerkleRoot(b.EntriesHashList), b.EntriesHash) {
		fails = append(fails, "entriesHash is not the Merkle root of entriesHashList")
	}
	if !bytes.Equal(qldbhash.Dot(b.EntriesHash, b.PreviousBlockHash), b.BlockHash) {
		fails = append(fails, "blockHash is not dot(entriesHash, previousBlockHash)")
	}
	if len(fails) > 0 {
		return errors.New(strings.Join(fails, "; "))
	}
	return nil
}
