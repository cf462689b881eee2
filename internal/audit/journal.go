package audit

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/store"
)

// rawBlock is a stored block: its key and value, copied out of the store.
type rawBlock struct {
	key []byte
	val []byte
}

// copyKV copies a key and value with one allocation.
func copyKV(k, v []byte) rawBlock {
	buf := make([]byte, len(k)+len(v))
	copy(buf, k)
	copy(buf[len(k):], v)
	return rawBlock{key: buf[:len(k):len(k)], val: buf[len(k):]}
}

// blockResult is what a worker learned about one stored block. It keeps
// no decoded value: those are reused (see withDecoded).
type blockResult struct {
	seq    uint64
	keyErr error
	err    error // the block does not decode or its hashes are wrong
	addr   journal.BlockAddress
	hash   []byte // blockHash
	prev   []byte // previousBlockHash
	revs   []revEntry
}

// checkBlock decodes and verifies one stored block on its own (everything
// but the chain, which needs the previous block). It runs on the workers.
func (r *ledgerRun) checkBlock(raw rawBlock) blockResult {
	var res blockResult
	res.seq, res.keyErr = blockSeq(r.keys.blocks, raw.key)
	if res.keyErr != nil {
		return res
	}
	err := withDecoded(raw.val, func(v *ionvalue.Value) error {
		b, err := journal.BlockFromIon(v)
		if err != nil {
			return fmt.Errorf("the stored block is not a journal block: %w", err)
		}
		// The byte slices and strings of a decoded value stay valid.
		res.addr, res.hash, res.prev = b.Address, b.BlockHash, b.PreviousBlockHash
		if err := journal.VerifyBlock(b, b.PreviousBlockHash); err != nil {
			return err
		}
		// transactionId is not hashed; the revisions' txId is.
		for _, rev := range b.Revisions {
			if !rev.IsSystem() && rev.Metadata.TxID != b.TransactionID {
				return fmt.Errorf("transactionId %q is not the transaction %q of its revision of document %s", b.TransactionID, rev.Metadata.TxID, rev.Metadata.ID)
			}
			// Nor is blockTimestamp; the revisions' txTime, the same
			// instant (the committer stamps both), is.
			if !rev.IsSystem() && !rev.Metadata.TxTime.Equal(b.Timestamp) {
				return fmt.Errorf("blockTimestamp %s is not the time %s of its revision of document %s", b.Timestamp.Format(time.RFC3339Nano), rev.Metadata.TxTime.Format(time.RFC3339Nano), rev.Metadata.ID)
			}
		}
		// Nor is the blockAddress each revision of the block repeats:
		// it must be the block's own.
		if revs := v.Get("revisions"); revs != nil {
			for i, rv := range revs.Elems {
				if a := rv.Get("blockAddress"); a != nil {
					addr, err := journal.AddressFromIon(a)
					if err != nil || addr != b.Address {
						return fmt.Errorf("revision %d of the block names another block address: %s", i, ionvalue.MarshalText(a))
					}
				}
			}
		}
		res.revs = r.idx.entries(b)
		return nil
	})
	res.err = err
	return res
}

// journal checks every block in order: each block's hashes (in parallel),
// then, in sequence, numbering, strand, chain and the ledger tree. It stops
// at the first failure.
func (r *ledgerRun) journal() error {
	var total uint64
	lo, hi := span(r.keys.blocks)
	if err := r.st.ScanReverse(lo, hi, func(k, _ []byte) bool {
		if seq, err := blockSeq(lo, k); err == nil {
			total = seq + 1
		}
		return false
	}); err != nil && !store.IsCorruption(err) { // corruption: the scan below finds the first bad block
		return err
	}
	if total > 0 && r.rep.StrandID == "" {
		r.failAt(CheckMeta, 0, false, r.keys.meta, "the ledger has blocks but no meta entry (strand id)")
		return nil
	}
	r.idx.reserve(total)

	checker := &treeChecker{view: r.st, prefix: r.keys.tree}
	defer checker.close()
	tree := journal.NewTree()

	prog := r.newProgress("journal", total)
	var next uint64
	var last []byte
	var opErr error
	scanErr := orderedMap(r.opts.Workers,
		func(emit func(rawBlock) bool) error {
			return r.st.Scan(lo, hi, func(k, v []byte) bool { return emit(copyKV(k, v)) })
		},
		r.checkBlock,
		func(_ rawBlock, res blockResult) bool {
			if err := r.collect(&res, next, last, tree, checker); err != nil {
				if !errors.As(err, new(*Failure)) {
					opErr = err
				}
				return false
			}
			last = res.hash
			next++
			r.idx.add(res.revs)
			if next%256 == 0 {
				prog.tick(next)
			}
			return true
		})
	if opErr != nil {
		return opErr
	}
	if scanErr != nil && store.IsCorruption(scanErr) && r.rep.Failure == nil {
		// The scan read blocks 0..next-1 and then met damaged data.
		r.rep.Blocks = next
		r.fail(&Failure{Check: CheckStorage, Block: next, HasBlock: true, Key: fmt.Sprintf("b/%d", next), Err: corruption(scanErr)})
		return nil
	}
	if scanErr != nil {
		return scanErr
	}
	r.rep.Blocks = next
	if r.rep.Failure != nil {
		return nil
	}
	prog.tick(next)

	// Nothing stored beyond what the journal accounts for, and the stored
	// root at the tip is the recomputed one.
	if err := checker.finish(); err != nil {
		var te *errTree
		if !errors.As(err, &te) {
			return err
		}
		r.failAt(CheckTree, next-1, next > 0, nil, "%s", te.msg)
		return nil
	}
	if next > 0 {
		stored, err := journal.Root(journal.StoreNodes{Store: r.st, Prefix: r.keys.tree}, next)
		if err != nil {
			if errors.Is(err, journal.ErrTreeNodeMissing) || errors.Is(err, journal.ErrTreeRange) {
				r.failAt(CheckTree, next-1, true, nil, "the stored ledger tree has no root at the tip: %v", err)
				return nil
			}
			return err
		}
		if root := tree.Root(); !bytes.Equal(stored, root) {
			r.failAt(CheckTree, next-1, true, nil, "the stored ledger digest at the tip is %x, recomputed from the block hashes %x", stored, root)
			return nil
		}
		r.rep.Digest = tree.Root()
	}
	r.idx.finish()
	r.rep.Revisions = uint64(len(r.idx.revs))
	return nil
}

// collect runs the in-order checks of one block: it must be block next, of
// the ledger's strand, verified on its own, chained to last, and its append
// to the ledger tree must produce exactly the stored nodes. It returns a
// *Failure (already recorded) or an operational error.
func (r *ledgerRun) collect(res *blockResult, next uint64, last []byte, tree *journal.Tree, checker *treeChecker) error {
	record := func(check string, seq uint64, format string, args ...any) error {
		f := &Failure{Check: check, Block: seq, HasBlock: true, Err: fmt.Errorf(format, args...)}
		if check != CheckTree {
			f.Key = fmt.Sprintf("b/%d", seq)
		}
		r.fail(f)
		return f
	}
	switch {
	case res.keyErr != nil:
		return record(CheckSequence, next, "%v", res.keyErr)
	case res.seq > next:
		return record(CheckSequence, next, "block %d is missing: the journal goes on with block %d", next, res.seq)
	case res.seq < next: // cannot happen with ordered keys
		return record(CheckSequence, res.seq, "block %d is stored twice", res.seq)
	case res.err != nil:
		return record(CheckBlock, res.seq, "%v", res.err)
	}
	if res.addr.SequenceNo != res.seq || res.addr.StrandID != r.rep.StrandID {
		return record(CheckBlock, res.seq, "the block stored as block %d of strand %s has address {strandId:%q,sequenceNo:%d}",
			res.seq, r.rep.StrandID, res.addr.StrandID, res.addr.SequenceNo)
	}
	if !bytes.Equal(res.prev, last) {
		if next == 0 {
			return record(CheckChain, res.seq, "the first block's previousBlockHash is %x, not empty", res.prev)
		}
		return record(CheckChain, res.seq, "previousBlockHash %x is not the hash %x of block %d", res.prev, last, next-1)
	}
	if err := tree.Append(checker, res.hash); err != nil {
		var te *errTree
		if errors.As(err, &te) {
			return record(CheckTree, res.seq, "%s", te.msg)
		}
		if store.IsCorruption(err) { // a stored tree node this block completes cannot be read
			f := &Failure{Check: CheckStorage, Block: res.seq, HasBlock: true, Err: corruption(err)}
			r.fail(f)
			return f
		}
		return err
	}
	return nil
}
