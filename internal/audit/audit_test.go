package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/audit"
	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/store"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
)

var ctx = context.Background()

// fixture is a data directory with a ledger built through the real server
// and the facts the tests need about it.
type fixture struct {
	dir     string
	digest  []byte // GetDigest before the server stopped
	blocks  uint64
	revs    []revFact // every revision of Car, from history()
	tableID string
}

type revFact struct {
	doc     string
	version uint64
	seq     uint64
	live    bool
	vin     string
}

// build starts a server on a fresh directory, runs a workload covering
// inserts, multi-document transactions, updates, deletes, DDL with DML,
// read-only transactions and a second and an empty ledger, then stops it.
func build(t *testing.T) *fixture {
	t.Helper()
	n := servertest.Start(t, nil)
	for _, name := range []string{"cars", "other", "empty"} {
		n.CreateLedger(name)
	}
	drv := n.Driver("cars")
	if _, err := drv.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) {
		for _, s := range []string{"CREATE TABLE Car", "CREATE INDEX ON Car (VIN)"} {
			if _, err := tx.Execute(s); err != nil {
				return nil, err
			}
		}
		return tx.Execute("INSERT INTO Car ?", map[string]any{"VIN": "V-first", "n": 0})
	}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 40; i++ {
		switch {
		case i%7 == 0:
			servertest.MustQuery(t, drv, "INSERT INTO Car << ?, ? >>", map[string]any{"VIN": fmt.Sprintf("V-%d-a", i)}, map[string]any{"VIN": fmt.Sprintf("V-%d-b", i)})
		case i%5 == 0:
			servertest.MustQuery(t, drv, "UPDATE Car SET n = ? WHERE VIN = ?", i, fmt.Sprintf("V-%d", i-1))
		case i%11 == 0:
			servertest.MustQuery(t, drv, "DELETE FROM Car WHERE VIN = ?", fmt.Sprintf("V-%d", i-2))
		case i%13 == 0:
			servertest.MustQuery(t, drv, "SELECT * FROM Car WHERE VIN = 'V-first'") // a read-only block
		default:
			servertest.MustQuery(t, drv, "INSERT INTO Car ?", map[string]any{"VIN": fmt.Sprintf("V-%d", i), "n": i, "tags": []any{"x", i}})
		}
	}
	servertest.MustQuery(t, drv, "UPDATE Car SET n = 99 WHERE VIN = 'V-first'")
	servertest.MustQuery(t, drv, "UPDATE Car SET n = 100 WHERE VIN = 'V-first'")
	odrv := n.Driver("other")
	servertest.MustQuery(t, odrv, "CREATE TABLE T")
	servertest.MustQuery(t, odrv, "INSERT INTO T ?", map[string]any{"a": 1})

	f := &fixture{dir: n.Config.DataDir}
	for _, v := range servertest.MustQuery(t, drv, "SELECT * FROM history(Car)") {
		rev, addr, err := journal.RevisionFromIon(v)
		if err != nil {
			t.Fatal(err)
		}
		fact := revFact{doc: rev.Metadata.ID, version: rev.Metadata.Version, seq: addr.SequenceNo, live: rev.Data != nil}
		if rev.Data != nil {
			fact.vin = rev.Data.Get("VIN").Text
		}
		f.revs = append(f.revs, fact)
	}
	rows := servertest.MustQuery(t, drv, "SELECT tableId FROM information_schema.user_tables WHERE name = 'Car'")
	f.tableID = rows[0].Get("tableId").Text
	out, err := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey).GetDigest(ctx, &qldb.GetDigestInput{Name: aws.String("cars")})
	if err != nil {
		t.Fatal(err)
	}
	f.digest = out.Digest
	l := n.LedgerEngine("cars")
	f.blocks = l.Next()
	n.Stop()
	return f
}

func openStore(t *testing.T, dir string) store.Store {
	t.Helper()
	st, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestVerifyUntampered(t *testing.T) {
	f := build(t)
	st := openStore(t, f.dir)
	var progress []audit.Progress
	rep, err := audit.Run(st, audit.Options{Workers: 3, Progress: func(p audit.Progress) { progress = append(progress, p) }, ProgressEvery: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("untampered ledger fails: %v", rep.FirstFailure())
	}
	if len(rep.Ledgers) != 3 || rep.Ledgers[0].Name != "cars" || rep.Ledgers[1].Name != "empty" || rep.Ledgers[2].Name != "other" {
		t.Fatalf("ledgers: %+v", rep.Ledgers)
	}
	cars := rep.Ledgers[0]
	if cars.Blocks != f.blocks || !bytes.Equal(cars.Digest, f.digest) {
		t.Errorf("cars: %d blocks, digest %x; the server had %d blocks, digest %x", cars.Blocks, cars.Digest, f.blocks, f.digest)
	}
	if cars.Revisions != uint64(len(f.revs)) || cars.History != uint64(len(f.revs)) || cars.RevisionBlocks != uint64(len(f.revs)) {
		t.Errorf("cars: %d revisions, %d h/, %d r/; history() has %d", cars.Revisions, cars.History, cars.RevisionBlocks, len(f.revs))
	}
	live := map[string]bool{}
	for _, r := range f.revs {
		live[r.doc] = r.live // history is in version order per document
	}
	nLive := 0
	for _, l := range live {
		if l {
			nLive++
		}
	}
	if cars.Latest != uint64(nLive) {
		t.Errorf("cars: %d d/ entries, %d live documents", cars.Latest, nLive)
	}
	if e := rep.Ledgers[1]; e.Blocks != 0 || e.Digest != nil {
		t.Errorf("empty ledger: %+v", e)
	}
	if o := rep.Ledgers[2]; o.Blocks != 2 || o.Revisions != 1 {
		t.Errorf("other ledger: %+v", o)
	}
	phases := map[string]bool{}
	for _, p := range progress {
		phases[p.Phase] = true
		if p.Done > p.Total && p.Phase == "journal" {
			t.Errorf("progress %+v", p)
		}
	}
	if !phases["journal"] || !phases["documents"] {
		t.Errorf("progress phases reported: %v", phases)
	}

	one, err := audit.Run(st, audit.Options{Ledger: "other"})
	if err != nil || len(one.Ledgers) != 1 || !one.OK() {
		t.Errorf("Ledger option: %+v, %v", one, err)
	}
	if _, err := audit.Run(st, audit.Options{Ledger: "nope"}); !errors.Is(err, audit.ErrNoLedger) {
		t.Errorf("unknown ledger: %v", err)
	}
}

// tamperer changes stored values behind the server's back and restores them.
type tamperer struct {
	t      *testing.T
	st     store.Store
	prefix []byte
	saved  map[string][]byte // original values (nil: absent)
}

func newTamperer(t *testing.T, st store.Store, ledgerName string) *tamperer {
	cat, err := ledger.Open(st, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := cat.Describe(ledgerName)
	if err != nil {
		t.Fatal(err)
	}
	return &tamperer{t: t, st: st, prefix: []byte("l/" + l.ID + "/"), saved: map[string][]byte{}}
}

func (tp *tamperer) key(parts ...any) []byte {
	k := bytes.Clone(tp.prefix)
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			k = append(k, p...)
		case uint64:
			k = append(k, u64(p)...)
		case byte:
			k = append(k, p)
		default:
			tp.t.Fatalf("key part %T", p)
		}
	}
	return k
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b
}

func (tp *tamperer) get(key []byte) []byte {
	tp.t.Helper()
	v, ok, err := tp.st.Get(key)
	if err != nil || !ok {
		tp.t.Fatalf("get %q: %v %v", key, ok, err)
	}
	return v
}

// set writes (or, with nil, deletes) key, remembering the original.
func (tp *tamperer) set(key, val []byte) {
	tp.t.Helper()
	if _, ok := tp.saved[string(key)]; !ok {
		orig, _, err := tp.st.Get(key)
		if err != nil {
			tp.t.Fatal(err)
		}
		tp.saved[string(key)] = orig
	}
	b := tp.st.NewBatch()
	defer b.Close()
	var err error
	if val == nil {
		err = b.Delete(key)
	} else {
		err = b.Set(key, val)
	}
	if err == nil {
		err = tp.st.Apply(b)
	}
	if err != nil {
		tp.t.Fatal(err)
	}
}

// flip flips one bit of the first occurrence of needle in key's value.
func (tp *tamperer) flip(key, needle []byte) {
	tp.t.Helper()
	v := tp.get(key)
	i := bytes.Index(v, needle)
	if i < 0 {
		tp.t.Fatalf("%x not in the value of %q", needle, key)
	}
	v[i+len(needle)/2] ^= 0x01
	tp.set(key, v)
}

func (tp *tamperer) restore() {
	for k, v := range tp.saved {
		tp.set([]byte(k), v)
	}
	tp.saved = map[string][]byte{}
}

func encode(t *testing.T, v *ionvalue.Value) []byte {
	t.Helper()
	b, err := ionvalue.MarshalBinary(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestVerifyTampering changes one stored thing at a time (a block byte, a
// history or latest-revision copy, a tree node, an index entry) and checks
// that verify names the right block and check, then restores it.
func TestVerifyTampering(t *testing.T) {
	f := build(t)
	st := openStore(t, f.dir)
	tp := newTamperer(t, st, "cars")

	// Targets: a document with several versions, its newest revision, a
	// deleted document, and an insert block.
	versions := map[string][]revFact{}
	var deleted revFact
	for _, r := range f.revs {
		versions[r.doc] = append(versions[r.doc], r)
		if !r.live {
			deleted = r
		}
	}
	first := versions[f.revs[0].doc] // V-first: versions 0, 1, 2
	for _, r := range f.revs {
		if r.vin == "V-first" {
			first = versions[r.doc]
			break
		}
	}
	if len(first) < 3 || deleted.doc == "" {
		t.Fatalf("workload lacks an updated or a deleted document: %+v", f.revs)
	}
	newest := first[len(first)-1]
	var insert revFact
	for _, r := range f.revs {
		if r.vin == "V-12" {
			insert = r
		}
	}
	blockKey := tp.key("b/", insert.seq)
	block := servertest.DecodeBlock(t, tp.get(blockKey))
	hKey := func(r revFact) []byte { return tp.key("h/", f.tableID, "/", r.doc, "/", r.version) }
	dKey := func(doc string) []byte { return tp.key("d/", f.tableID, "/", doc) }
	node := func(level byte, index uint64) []byte { return tp.key("m/", level, index) }

	cases := []struct {
		name   string
		tamper func()
		check  string
		block  uint64
		msg    string
	}{
		{"block data", func() { tp.flip(blockKey, []byte("V-12")) }, audit.CheckBlock, insert.seq, "revision 0"},
		{"block hash", func() { tp.flip(blockKey, block.BlockHash) }, audit.CheckBlock, insert.seq, "blockHash"},
		{"block entries hash", func() { tp.flip(blockKey, block.EntriesHash) }, audit.CheckBlock, insert.seq, "entriesHash"},
		{"block previous hash", func() { tp.flip(blockKey, block.PreviousBlockHash) }, audit.CheckBlock, insert.seq, "blockHash"},
		{"statement text", func() { tp.flip(blockKey, []byte("INSERT INTO Car")) }, audit.CheckBlock, insert.seq, "transactionInfo"},
		{"transaction id", func() { tp.flip(blockKey, []byte(block.TransactionID)) }, audit.CheckBlock, insert.seq, "transactionId"},
		{"block garbage", func() { tp.set(blockKey, []byte("not ion")) }, audit.CheckBlock, insert.seq, "not"},
		{"block missing", func() { tp.set(blockKey, nil) }, audit.CheckSequence, insert.seq, "missing"},
		{"block re-sealed on another chain", func() {
			b := servertest.DecodeBlock(t, tp.get(blockKey))
			b.Seal(qldbhash.HashString("elsewhere"))
			tp.set(blockKey, encode(t, b.Ion()))
		}, audit.CheckChain, insert.seq, "previousBlockHash"},
		{"block forged and re-sealed in place", func() {
			b := servertest.DecodeBlock(t, tp.get(blockKey))
			b.Revisions[0].Data = b.Revisions[0].Data.With("VIN", ionvalue.String("forged"))
			b.Seal(b.PreviousBlockHash)
			tp.set(blockKey, encode(t, b.Ion()))
		}, audit.CheckTree, insert.seq, "ledger tree node (level 0"},
		{"history data", func() { tp.flip(hKey(insert), []byte("V-12")) }, audit.CheckHistory, insert.seq, "hash to"},
		{"history hash", func() {
			v, _ := ionvalue.DecodeOne(tp.get(hKey(insert)))
			tp.flip(hKey(insert), v.Get("hash").Bytes)
		}, audit.CheckHistory, insert.seq, "claims hash"},
		{"history of an old version", func() {
			v, _ := ionvalue.DecodeOne(tp.get(hKey(first[0])))
			tp.set(hKey(first[0]), encode(t, v.With("data", v.Get("data").With("n", ionvalue.Int(7)))))
		}, audit.CheckHistory, first[0].seq, "hash to"},
		{"history moved to another block", func() {
			v, _ := ionvalue.DecodeOne(tp.get(hKey(insert)))
			addr := journal.BlockAddress{StrandID: block.Address.StrandID, SequenceNo: insert.seq - 1}
			tp.set(hKey(insert), encode(t, v.With("blockAddress", addr.Ion())))
		}, audit.CheckHistory, insert.seq, "holds no revision"},
		{"history entry missing", func() { tp.set(hKey(first[0]), nil) }, audit.CheckHistory, first[0].seq, "no history entry"},
		{"history entry undecodable", func() { tp.set(hKey(first[1]), []byte{0xe0, 0x01, 0x00, 0xea, 0xff}) }, audit.CheckHistory, first[1].seq, "not readable"},
		{"latest data", func() { tp.flip(dKey(newest.doc), []byte("V-first")) }, audit.CheckLatest, newest.seq, "hash to"},
		{"latest is stale", func() { tp.set(dKey(newest.doc), tp.get(hKey(first[0]))) }, audit.CheckLatest, newest.seq, "newest revision is version"},
		{"latest missing", func() { tp.set(dKey(newest.doc), nil) }, audit.CheckLatest, newest.seq, "no latest-revision entry"},
		{"deleted document resurrected", func() {
			prev := versions[deleted.doc][len(versions[deleted.doc])-2]
			tp.set(dKey(deleted.doc), tp.get(hKey(prev)))
		}, audit.CheckLatest, deleted.seq, "deleted"},
		{"latest without history", func() {
			tp.set(tp.key("d/", f.tableID, "/", "ZZZZZZZZZZZZZZZZZZZZZZ"), tp.get(dKey(newest.doc)))
		}, audit.CheckLatest, newest.seq, "without any history"},
		{"revision-block index", func() {
			tp.set(tp.key("r/", insert.doc, "/", insert.version), u64(insert.seq+1))
		}, audit.CheckRevisionBlock, insert.seq, "no revision-block entry that names its block"},
		{"tree leaf", func() { tp.flip(node(0, insert.seq), tp.get(node(0, insert.seq))[:8]) }, audit.CheckTree, insert.seq, "level 0"},
		{"tree inner node", func() { tp.flip(node(2, 3), tp.get(node(2, 3))[:8]) }, audit.CheckTree, 15, "level 2, index 3"},
		{"tree node missing", func() { tp.set(node(1, 4), nil) }, audit.CheckTree, 9, "missing"},
		{"tree node beyond the journal", func() { tp.set(node(0, f.blocks), qldbhash.HashString("x")) }, audit.CheckTree, f.blocks - 1, "beyond the journal"},
		{"tree level beyond the journal", func() { tp.set(node(20, 0), qldbhash.HashString("x")) }, audit.CheckTree, f.blocks - 1, "beyond the journal"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer tp.restore()
			c.tamper()
			rep, err := audit.Run(st, audit.Options{Ledger: "cars"})
			if err != nil {
				t.Fatal(err)
			}
			fl := rep.FirstFailure()
			if fl == nil {
				t.Fatal("verify passed")
			}
			if fl.Check != c.check || !fl.HasBlock || fl.Block != c.block || !strings.Contains(fl.Error(), c.msg) {
				t.Errorf("got %v (check %s, block %d, hasBlock %v); want check %s at block %d mentioning %q",
					fl, fl.Check, fl.Block, fl.HasBlock, c.check, c.block, c.msg)
			}
		})
	}
	rep, err := audit.Run(st, audit.Options{})
	if err != nil || !rep.OK() {
		t.Fatalf("after restoring: %v %v", rep.FirstFailure(), err)
	}
}

// TestVerifyMetaEntry damages the ledger's meta entry, which no hash
// covers: an unknown field, a missing strand id, and an import record
// that contradicts the journal or the catalogue are each named as a meta
// failure; an import record consistent with both cannot be told from a
// real one and passes (rebuild-derived then trusts it).
func TestVerifyMetaEntry(t *testing.T) {
	f := build(t)
	st := openStore(t, f.dir)
	tp := newTamperer(t, st, "cars")
	metaKey := tp.key("meta")
	var meta struct {
		StrandID string `json:"strandId"`
	}
	if err := json.Unmarshal(tp.get(metaKey), &meta); err != nil || meta.StrandID == "" {
		t.Fatalf("meta entry %q: %v", tp.get(metaKey), err)
	}
	imported := func(blocks uint64, tables string) []byte {
		return fmt.Appendf(nil, `{"strandId":%q,"imported":{"blocks":%d,"tables":%s}}`, meta.StrandID, blocks, tables)
	}
	cases := []struct {
		name string
		val  []byte
		msg  string // "" for a record verify cannot tell from a real one
	}{
		{"unknown field", fmt.Appendf(nil, `{"strandId":%q,"importd":{}}`, meta.StrandID), "unreadable"},
		{"no strand id", []byte(`{"imported":{"blocks":1,"tables":{}}}`), "unreadable"},
		{"import without tables", fmt.Appendf(nil, `{"strandId":%q,"imported":{"blocks":1}}`, meta.StrandID), "unreadable"},
		{"no blocks imported", imported(0, `{}`), "an import of 0 blocks"},
		{"more blocks imported than the journal has", imported(f.blocks+1, `{}`), fmt.Sprintf("but the journal has %d", f.blocks)},
		{"imported table the catalogue lacks", imported(2, `{"AAAAAAAAAAAAAAAAAAAAAA":0}`), "which the catalogue lacks"},
		{"imported table newer than its catalogue entry", imported(2, fmt.Sprintf(`{%q:7}`, f.tableID)), "at version 7"},
		{"consistent import record", imported(f.blocks, fmt.Sprintf(`{%q:0}`, f.tableID)), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer tp.restore()
			tp.set(metaKey, c.val)
			rep, err := audit.Run(st, audit.Options{Ledger: "cars"})
			if err != nil {
				t.Fatal(err)
			}
			fl := rep.FirstFailure()
			switch {
			case c.msg == "" && fl != nil:
				t.Errorf("verify failed: %v", fl)
			case c.msg == "":
			case fl == nil:
				t.Errorf("verify passed with meta entry %s", c.val)
			case fl.Check != audit.CheckMeta || fl.HasBlock || !strings.Contains(fl.Error(), c.msg):
				t.Errorf("got %v (check %s, hasBlock %v); want check %s mentioning %q", fl, fl.Check, fl.HasBlock, audit.CheckMeta, c.msg)
			}
		})
	}
	rep, err := audit.Run(st, audit.Options{})
	if err != nil || !rep.OK() {
		t.Fatalf("after restoring: %v %v", rep.FirstFailure(), err)
	}
}
