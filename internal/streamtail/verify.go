package streamtail

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/stream/record"
)

// Verifier checks a journal stream as it is read, the way QLDB's stream
// verification sample does, but without trusting delivery order (Kinesis
// orders records per shard only) or uniqueness (delivery is at least once):
//
//   - every REVISION_DETAILS: its hash recomputes from its data and metadata;
//   - every BLOCK_SUMMARY, once the details of all its document revisions
//     are in: revision hashes match the summary's, the revisions' Merkle
//     root and H(transactionInfo) are in entriesHashList, entriesHash is that
//     list's root and blockHash = dot(entriesHash, previousBlockHash);
//   - the chain: each block's previousBlockHash is the blockHash of the block
//     before it;
//   - duplicates: a record delivered again unchanged is counted (normal for
//     Kinesis); a block sequence number or a (documentId, version) delivered
//     twice with different hashes is a problem;
//   - gaps (Gaps): block sequence numbers missing between the lowest and
//     highest seen, and blocks whose revision details never came.
//
// Records of several journal streams (several ledgers) in one Kinesis stream
// are checked separately, by qldbStreamArn. Problems go to Report as they
// are found. A Verifier is not safe for concurrent use.
type Verifier struct {
	// Report receives one line per problem found.
	Report func(problem string)

	chains   map[string]*chain
	problems int
}

// chain is the state of one journal stream.
type chain struct {
	arn       string
	blocks    map[uint64]*journal.Block // BLOCK_SUMMARY by sequence number
	checked   map[uint64]bool           // block fully verified
	revisions map[string]record.RevisionDetails
	byDoc     map[string]string // "docID/version" -> revision hash (hex)
	rejected  map[string]bool   // revision hashes (hex) whose details failed
	// counts
	summaries, details, controls int
	dupBlocks, dupRevisions      int
	created, completed           bool
}

// NewVerifier returns a Verifier reporting to report.
func NewVerifier(report func(string)) *Verifier {
	return &Verifier{Report: report, chains: map[string]*chain{}}
}

func (v *Verifier) problem(format string, args ...any) {
	v.problems++
	if v.Report != nil {
		v.Report(fmt.Sprintf(format, args...))
	}
}

// Problems returns how many problems were reported so far (gaps are
// counted when Gaps reports them).
func (v *Verifier) Problems() int { return v.problems }

func (v *Verifier) chain(arn string) *chain {
	c, ok := v.chains[arn]
	if !ok {
		c = &chain{arn: arn, blocks: map[uint64]*journal.Block{}, checked: map[uint64]bool{},
			revisions: map[string]record.RevisionDetails{}, byDoc: map[string]string{}, rejected: map[string]bool{}}
		v.chains[arn] = c
	}
	return c
}

// Add checks one delivered record.
func (v *Verifier) Add(d Delivered) {
	if d.DecodeErr != nil {
		v.problem("record %s of %s does not decode: %v", d.SequenceNumber, d.ShardID, d.DecodeErr)
		return
	}
	r := d.Record
	c := v.chain(r.StreamARN)
	switch r.Type {
	case record.TypeControl:
		c.controls++
		switch r.ControlType {
		case record.ControlCreated:
			c.created = true
		case record.ControlCompleted:
			c.completed = true
		}
	case record.TypeBlockSummary:
		v.addBlock(c, r.Block)
	case record.TypeRevisionDetails:
		v.addRevision(c, r.Revision)
	}
}

func (v *Verifier) addBlock(c *chain, b *journal.Block) {
	c.summaries++
	seq := b.Address.SequenceNo
	if old, ok := c.blocks[seq]; ok {
		if bytes.Equal(old.BlockHash, b.BlockHash) {
			c.dupBlocks++
		} else {
			v.problem("block %d delivered twice with different hashes (%x, then %x)", seq, old.BlockHash, b.BlockHash)
		}
		return
	}
	c.blocks[seq] = b
	if seq > 0 {
		if prev, ok := c.blocks[seq-1]; ok && !bytes.Equal(b.PreviousBlockHash, prev.BlockHash) {
			v.problem("block %d: previousBlockHash %x is not the blockHash %x of block %d: the chain is broken", seq, b.PreviousBlockHash, prev.BlockHash, seq-1)
		}
	}
	if next, ok := c.blocks[seq+1]; ok && !bytes.Equal(next.PreviousBlockHash, b.BlockHash) {
		v.problem("block %d: previousBlockHash %x is not the blockHash %x of block %d: the chain is broken", seq+1, next.PreviousBlockHash, b.BlockHash, seq)
	}
	v.tryBlock(c, seq)
}

func (v *Verifier) addRevision(c *chain, rd *record.RevisionDetails) {
	c.details++
	rev := rd.Revision
	key := hex.EncodeToString(rev.Hash)
	docKey := fmt.Sprintf("%s/%d", rev.Metadata.ID, rev.Metadata.Version)
	if old, ok := c.byDoc[docKey]; ok {
		if old == key {
			c.dupRevisions++
		} else {
			v.problem("document %s version %d delivered twice with different hashes (%s, then %s)", rev.Metadata.ID, rev.Metadata.Version, old, key)
		}
		return
	}
	c.byDoc[docKey] = key
	if got, err := revisionHash(rev); err != nil {
		v.problem("document %s version %d (block %d): cannot hash: %v", rev.Metadata.ID, rev.Metadata.Version, rd.Address.SequenceNo, err)
		c.rejected[key] = true
		return
	} else if !bytes.Equal(got, rev.Hash) {
		v.problem("document %s version %d (block %d): hash %x does not recompute from its data and metadata (%x)", rev.Metadata.ID, rev.Metadata.Version, rd.Address.SequenceNo, rev.Hash, got)
		c.rejected[key] = true
		return
	}
	c.revisions[key] = *rd
	v.tryBlock(c, rd.Address.SequenceNo)
}

// tryBlock verifies block seq once its summary and every revision detail
// it lists are in.
func (v *Verifier) tryBlock(c *chain, seq uint64) {
	b, ok := c.blocks[seq]
	if !ok || c.checked[seq] {
		return
	}
	full := *b
	full.Revisions = make([]journal.Revision, len(b.Revisions))
	for i, r := range b.Revisions {
		if r.IsSystem() {
			full.Revisions[i] = r
			continue
		}
		rd, ok := c.revisions[hex.EncodeToString(r.Hash)]
		if !ok {
			return // details still to come
		}
		if rd.Address.SequenceNo != seq {
			v.problem("block %d lists revision %x, whose REVISION_DETAILS names block %d", seq, r.Hash, rd.Address.SequenceNo)
		}
		full.Revisions[i] = rd.Revision
	}
	c.checked[seq] = true
	if err := journal.VerifyBlock(&full, b.PreviousBlockHash); err != nil {
		v.problem("block %d: %v", seq, err)
	}
}

// revisionHash recomputes a revision's hash: dot(H(metadata), H(data)), or
// H(metadata) for a deleted document.
func revisionHash(r journal.Revision) ([]byte, error) {
	mh, err := qldbhash.HashValue(r.Metadata.Ion())
	if err != nil {
		return nil, err
	}
	if r.Data == nil {
		return mh, nil
	}
	dh, err := qldbhash.HashValue(r.Data)
	if err != nil {
		return nil, err
	}
	return qldbhash.Dot(mh, dh), nil
}

// Gaps returns what is missing so far, one line each: block sequence
// numbers missing between the lowest and highest delivered, blocks whose
// revision details are missing (other than details already reported as
// failing verification), and revision details whose block never came.
func (v *Verifier) Gaps() []string {
	var out []string
	for _, arn := range v.arns() {
		c := v.chains[arn]
		prefix := ""
		if len(v.chains) > 1 {
			prefix = arn + ": "
		}
		seqs := c.seqs()
		for i := 1; i < len(seqs); i++ {
			if seqs[i] != seqs[i-1]+1 {
				from, to := seqs[i-1]+1, seqs[i]-1
				if from == to {
					out = append(out, fmt.Sprintf("%sgap: block %d is missing", prefix, from))
				} else {
					out = append(out, fmt.Sprintf("%sgap: blocks %d to %d (%d) are missing", prefix, from, to, to-from+1))
				}
			}
		}
		for _, s := range seqs {
			if c.checked[s] {
				continue
			}
			var missing []string
			for _, r := range c.blocks[s].Revisions {
				if !r.IsSystem() {
					h := hex.EncodeToString(r.Hash)
					if _, ok := c.revisions[h]; !ok && !c.rejected[h] { // a rejected one is reported already
						missing = append(missing, r.Metadata.ID)
					}
				}
			}
			if len(missing) > 0 {
				out = append(out, fmt.Sprintf("%sgap: block %d: no REVISION_DETAILS for document%s %s", prefix, s, plural(len(missing)), strings.Join(missing, ", ")))
			}
		}
		orphans := map[uint64]int{}
		for _, rd := range c.revisions {
			if _, ok := c.blocks[rd.Address.SequenceNo]; !ok {
				orphans[rd.Address.SequenceNo]++
			}
		}
		var os []uint64
		for s := range orphans {
			os = append(os, s)
		}
		sort.Slice(os, func(i, j int) bool { return os[i] < os[j] })
		for _, s := range os {
			if len(seqs) > 0 && s > seqs[0] && s < seqs[len(seqs)-1] {
				continue // already reported as a missing block
			}
			out = append(out, fmt.Sprintf("%sgap: block %d is missing (%d of its REVISION_DETAILS arrived)", prefix, s, orphans[s]))
		}
	}
	return out
}

// Summary describes what was checked, one line per journal stream.
func (v *Verifier) Summary() []string {
	var out []string
	for _, arn := range v.arns() {
		c := v.chains[arn]
		seqs := c.seqs()
		span := "no blocks"
		if len(seqs) > 0 {
			span = fmt.Sprintf("blocks %d to %d", seqs[0], seqs[len(seqs)-1])
		}
		out = append(out, fmt.Sprintf("%s: %s: %d block summaries (%d verified), %d revision details, %d control records; duplicates delivered: %d blocks, %d revisions",
			arn, span, len(c.blocks), len(c.checked), len(c.revisions), c.controls, c.dupBlocks, c.dupRevisions))
	}
	return out
}

func (v *Verifier) arns() []string {
	arns := make([]string, 0, len(v.chains))
	for a := range v.chains {
		arns = append(arns, a)
	}
	sort.Strings(arns)
	return arns
}

func (c *chain) seqs() []uint64 {
	seqs := make([]uint64, 0, len(c.blocks))
	for s := range c.blocks {
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	return seqs
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
