package audit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/store"
)

// storedFacts is what the checks keep of a stored committed-view copy of a
// revision (decoded values themselves are reused, see withDecoded).
type storedFacts struct {
	addr    journal.BlockAddress
	hash    []byte
	version uint64
	live    bool // it has data: not a deleted document's revision
}

// readStored decodes a committed-view copy and calls fn with the revision
// and its block address; the revision's values are valid during the call.
func readStored(raw []byte, fn func(journal.Revision, journal.BlockAddress) error) error {
	return withDecoded(raw, func(v *ionvalue.Value) error {
		rev, addr, err := journal.RevisionFromIon(v)
		if err != nil {
			return fmt.Errorf("the stored revision is malformed: %w", err)
		}
		if rev.IsSystem() {
			return fmt.Errorf("the stored revision has no metadata")
		}
		return fn(rev, addr)
	})
}

// docGroup is the newest history entry of one document seen so far.
type docGroup struct {
	key     string // table + "/" + doc, the d/ key suffix
	raw     []byte // the newest entry's value
	hash    []byte
	version uint64
	block   uint64 // the newest revision's block; see blockNo
	pos     int    // its index entry, from which blockNo finds block when known is false
	known   bool   // block is set
	live    bool   // the newest revision has data (not a delete)
	valid   bool   // the newest entry passed its checks
}

// blockNo returns the block of the newest entry's revision (its index
// position tells it when the entry was matched by its bytes).
func (g *docGroup) blockNo(x *revIndex) uint64 {
	if !g.known {
		g.block, g.known = x.blockOf(g.pos), true
	}
	return g.block
}

// revisionHash returns the hash field of the newest entry, reading it from
// raw when the entry was matched by its bytes (matchStored), which leaves
// hash nil.
func (g *docGroup) revisionHash() []byte {
	if g.hash == nil {
		_ = readStored(g.raw, func(rev journal.Revision, _ journal.BlockAddress) error {
			g.hash = bytes.Clone(rev.Hash)
			return nil
		})
	}
	return g.hash
}

// isGroup reports whether key is table + "/" + doc, without building it.
func isGroup(key, table, doc string) bool {
	return len(key) == len(table)+1+len(doc) && key[:len(table)] == table && key[len(table)] == '/' && key[len(table)+1:] == doc
}

// histResult is a worker's verdict on one h/ entry.
type histResult struct {
	table, doc string
	version    uint64
	keyErr     error
	s          storedFacts
	pos        int      // the revision's index entry
	fast       bool     // matched by its bytes: s.hash and s.addr.SequenceNo are not set (see docGroup)
	fail       *Failure // nil when the entry is the revision of its block
}

// checkHistory checks one h/ entry on its own; it runs on the workers.
func (r *ledgerRun) checkHistory(raw rawBlock) histResult {
	var h histResult
	h.table, h.doc, h.version, h.keyErr = historyKey(r.keys.history, raw.key)
	if h.keyErr != nil {
		return h
	}
	if pos, ok := r.idx.matchStored(h.table, h.doc, h.version, raw.val); ok {
		// The exact bytes of the revision its block holds: what the
		// full check would learn, without decoding or hashing it. The
		// hash is left nil (see docGroup.revisionHash).
		e := &r.idx.revs[pos]
		h.s = storedFacts{addr: journal.BlockAddress{StrandID: r.rep.StrandID}, version: e.version, live: e.live}
		h.pos, h.fast = pos, true
		return h
	}
	h.s, h.pos, h.fail = r.checkStored(CheckHistory, raw.key, raw.val, h.table, h.doc, h.version, true)
	return h
}

// documents checks the stored revision copies against the journal index:
// every h/ entry (in key order, in parallel, merged in order with the d/
// entries of the same documents), then every r/ entry, then that no journal
// revision lacks its h/ or r/ entry.
func (r *ledgerRun) documents() error {
	dLo, dHi := span(r.keys.latest)
	dIt, err := r.st.NewIter(dLo, dHi)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer dIt.Close()
	dIt.First()

	prog := r.newProgress("documents", uint64(len(r.idx.revs)))
	var g *docGroup
	var opErr error
	hLo, hHi := span(r.keys.history)
	err = orderedMap(r.opts.Workers,
		func(emit func(rawBlock) bool) error {
			return r.st.Scan(hLo, hHi, func(k, v []byte) bool { return emit(copyKV(k, v)) })
		},
		r.checkHistory,
		func(raw rawBlock, h histResult) bool {
			r.rep.History++
			if r.rep.History%256 == 0 {
				prog.tick(r.rep.History)
			}
			if h.keyErr != nil {
				r.failAt(CheckHistory, 0, false, raw.key, "%v", h.keyErr)
				return true
			}
			if g == nil || !isGroup(g.key, h.table, h.doc) {
				gk := h.table + "/" + h.doc
				if opErr = r.closeGroup(g, dIt, dLo, gk); opErr != nil {
					return false
				}
				g = &docGroup{key: gk}
			}
			*g = docGroup{key: g.key, raw: raw.val, version: h.version, valid: h.fail == nil}
			if h.fail != nil {
				r.fail(h.fail)
				return true
			}
			g.hash, g.block, g.live, g.pos, g.known = h.s.hash, h.s.addr.SequenceNo, h.s.live, h.pos, !h.fast
			if r.idx.seen.set(h.pos) {
				r.failAt(CheckHistory, g.blockNo(r.idx), true, raw.key, "a second history entry for document %s version %d", h.doc, h.version)
			}
			return true
		})
	if opErr != nil {
		return opErr
	}
	if err != nil {
		return err
	}
	if err := r.closeGroup(g, dIt, dLo, ""); err != nil {
		return err
	}
	if err := r.revisionBlocks(); err != nil {
		return err
	}
	prog.tick(r.rep.History)

	n := len(r.idx.revs)
	if i := r.idx.seen.firstClear(n); i >= 0 {
		seq := r.idx.blockOf(i)
		r.failAt(CheckHistory, seq, true, nil, "%s has no history entry", r.describeRevision(i, seq))
	}
	if i := r.idx.byBlock.firstClear(n); i >= 0 {
		seq := r.idx.blockOf(i)
		r.failAt(CheckRevisionBlock, seq, true, nil, "%s has no revision-block entry that names its block", r.describeRevision(i, seq))
	}
	return nil
}

// errCheckFailed stops a decode callback whose check failed.
var errCheckFailed = errors.New("verify: check failed")

// checkStored checks one stored committed-view copy (an h/ or d/ value)
// stored under table/doc (and version, for h/ keys; d/ keys carry none and
// pass the version the value claims): it must decode, name that document
// and version, hash to its own hash field, and equal the revision its block
// holds, in that table. It returns what it learned and the revision's
// position in the index, or the failure (not yet recorded), naming the
// block that wrote the revision when it can be found. It is safe for
// concurrent use.
func (r *ledgerRun) checkStored(check string, key, val []byte, table, doc string, version uint64, fromKey bool) (storedFacts, int, *Failure) {
	var s storedFacts
	pos := 0
	var f *Failure
	fail := func(format string, args ...any) error {
		f = &Failure{Check: check, Key: printable(r.keys.prefix, key), Err: fmt.Errorf(format, args...)}
		return errCheckFailed
	}
	err := readStored(val, func(rev journal.Revision, addr journal.BlockAddress) error {
		m := rev.Metadata
		s = storedFacts{addr: addr, hash: rev.Hash, version: m.Version, live: rev.Data != nil}
		if !fromKey {
			version = m.Version
		}
		if m.ID != doc || m.Version != version {
			return fail("the entry of document %s version %d holds document %s version %d", doc, version, m.ID, m.Version)
		}
		h, err := safeRevisionHash(rev)
		if err != nil {
			return fail("%v", err)
		}
		if !bytes.Equal(h, rev.Hash) {
			return fail("the stored data and metadata hash to %x, but the entry claims hash %x", h, rev.Hash)
		}
		if addr.StrandID != r.rep.StrandID {
			return fail("the entry's blockAddress names strand %q, not %q", addr.StrandID, r.rep.StrandID)
		}
		var ok bool
		if pos, ok = r.idx.find(addr.SequenceNo, doc, version); !ok {
			return fail("block %d, named by the entry's blockAddress, holds no revision of document %s version %d", addr.SequenceNo, doc, version)
		}
		e := &r.idx.revs[pos]
		if !bytes.Equal(e.hash[:], rev.Hash[:len(e.hash)]) {
			return fail("the entry's revision hash %x differs from the revision in block %d", rev.Hash, addr.SequenceNo)
		}
		if e.table != r.idx.fp(table) {
			return fail("block %d wrote document %s in another table than %s", addr.SequenceNo, doc, table)
		}
		return nil
	})
	if err == nil {
		return s, pos, nil
	}
	if err != errCheckFailed {
		fail("%v", err)
	}
	if fromKey {
		f.Block, f.HasBlock = r.blockOfRevision(doc, version)
	}
	if !f.HasBlock && s.addr.StrandID != "" && s.addr.SequenceNo < r.idx.blocks() {
		f.Block, f.HasBlock = s.addr.SequenceNo, true
	}
	return s, 0, f
}

// blockOfRevision finds the block that wrote a revision through its r/
// entry (checked against the journal index), to name the right block when a
// stored copy is too damaged to say.
func (r *ledgerRun) blockOfRevision(doc string, version uint64) (uint64, bool) {
	raw, ok, err := r.st.Get(append(r.keys.revBlock, doc+"/"+string(u64(version))...))
	if err != nil || !ok || len(raw) != 8 {
		return 0, false
	}
	seq := binary.BigEndian.Uint64(raw)
	if _, ok := r.idx.find(seq, doc, version); !ok {
		return 0, false
	}
	return seq, true
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// closeGroup finishes the document of g (nil before the first) against the
// d/ entries, which are in the same order: g's document must have a d/
// entry exactly when its newest revision is live, and that entry must be
// the newest revision. d/ entries that sort before next (the following
// document's group key; "" at the end) belong to no history: failures.
func (r *ledgerRun) closeGroup(g *docGroup, dIt store.Iterator, dLo []byte, next string) error {
	if g != nil {
		if err := r.orphans(dIt, dLo, g.key); err != nil {
			return err
		}
		if err := r.latest(g, dIt, dLo); err != nil {
			return err
		}
	}
	return r.orphans(dIt, dLo, next)
}

// orphans reports the d/ entries before key ("" for all the rest).
func (r *ledgerRun) orphans(dIt store.Iterator, dLo []byte, before string) error {
	for ; dIt.Valid(); dIt.Next() {
		key := dIt.Key()
		if before != "" && string(key[len(dLo):]) >= before {
			break
		}
		r.rep.Latest++
		val, err := dIt.Value()
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		seq, has := uint64(0), false
		_ = readStored(val, func(_ journal.Revision, addr journal.BlockAddress) error {
			seq, has = addr.SequenceNo, addr.SequenceNo < r.idx.blocks()
			return nil
		})
		r.failAt(CheckLatest, seq, has, bytes.Clone(key), "a latest-revision entry without any history entry")
	}
	return dIt.Error()
}

// latest checks g's d/ entry, if the iterator is on it.
func (r *ledgerRun) latest(g *docGroup, dIt store.Iterator, dLo []byte) error {
	if !dIt.Valid() || string(dIt.Key()[len(dLo):]) != g.key {
		if g.valid && g.live {
			r.failAt(CheckLatest, g.blockNo(r.idx), true, append(bytes.Clone(dLo), g.key...), "document version %d, written by block %d, is live but has no latest-revision entry", g.version, g.blockNo(r.idx))
		}
		return dIt.Error()
	}
	key := bytes.Clone(dIt.Key())
	val, err := dIt.Value()
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	val = bytes.Clone(val)
	r.rep.Latest++
	dIt.Next()
	if !g.valid {
		return nil // the newest history entry already failed
	}
	if !g.live {
		r.failAt(CheckLatest, g.blockNo(r.idx), true, key, "the document was deleted by block %d, but a latest-revision entry remains", g.blockNo(r.idx))
		return nil
	}
	if bytes.Equal(val, g.raw) {
		return nil // txn writes the same bytes to both
	}
	table, doc, err := latestKey(dLo, key)
	if err != nil {
		r.failAt(CheckLatest, g.blockNo(r.idx), true, key, "%v", err)
		return nil
	}
	s, _, f := r.checkStored(CheckLatest, key, val, table, doc, 0, false)
	if f != nil {
		if !f.HasBlock {
			f.Block, f.HasBlock = g.blockNo(r.idx), true // the newest revision's
		}
		r.fail(f)
		return nil
	}
	if s.version != g.version || !bytes.Equal(s.hash, g.revisionHash()) {
		r.failAt(CheckLatest, g.blockNo(r.idx), true, key, "the entry holds version %d, but the newest revision is version %d (block %d)", s.version, g.version, g.blockNo(r.idx))
	}
	return nil
}

// revisionBlocks checks every r/ entry: it must name the block that wrote
// that revision.
func (r *ledgerRun) revisionBlocks() error {
	lo, hi := span(r.keys.revBlock)
	return r.st.Scan(lo, hi, func(k, v []byte) bool {
		r.rep.RevisionBlocks++
		doc, version, err := revBlockKey(lo, k)
		if err != nil {
			r.failAt(CheckRevisionBlock, 0, false, bytes.Clone(k), "%v", err)
			return true
		}
		if len(v) != 8 {
			r.failAt(CheckRevisionBlock, 0, false, bytes.Clone(k), "the value is %d bytes, not an 8-byte sequence number", len(v))
			return true
		}
		seq := binary.BigEndian.Uint64(v)
		pos, ok := r.idx.find(seq, doc, version)
		if !ok {
			r.failAt(CheckRevisionBlock, seq, seq < r.idx.blocks(), bytes.Clone(k), "block %d holds no revision of document %s version %d", seq, doc, version)
			return true
		}
		r.idx.byBlock.set(pos)
		return true
	})
}

// describeRevision names revision i of the index, reading its block again
// to recover the document id (the index keeps only a fingerprint).
func (r *ledgerRun) describeRevision(i int, seq uint64) string {
	e := r.idx.revs[i]
	raw, ok, err := r.st.Get(append(r.keys.blocks, u64(seq)...))
	if err == nil && ok {
		if b, err := journal.DecodeBlock(raw); err == nil {
			for _, rev := range b.Revisions {
				if !rev.IsSystem() && r.idx.fp(rev.Metadata.ID) == e.doc && rev.Metadata.Version == e.version {
					return fmt.Sprintf("the revision of document %s version %d in block %d", rev.Metadata.ID, e.version, seq)
				}
			}
		}
	}
	return fmt.Sprintf("a revision (version %d) in block %d", e.version, seq)
}
