package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/server"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/store"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
)

// The outcomes of a corruption drill. Anything else is a silent loss.
const (
	detectedAtStart  = "detected-at-start"  // the server refuses to start, or refuses or marks damaged the ledger
	detectedByVerify = "detected-by-verify" // strand verify exits 1 naming the ledger
	harmless         = "harmless"           // verify passes and every acknowledged commit and the digest are intact
	// undetected: a stored value was changed (never harmless: its bytes
	// differ) and verify passed, with the acknowledged documents and the
	// digest intact: a field that nothing hashes was altered. Reported;
	// a failure for the targets that must be detected.
	undetected = "undetected-change"
	silentLoss = "SILENT-LOSS"
)

// drillTarget is one file kind or stored value a drill damages: size is
// its length in bytes, flip damages the byte at offset in a copy of the
// data directory.
type drillTarget struct {
	kind       string
	size       int
	flip       func(dir string, offset int) error
	mustDetect bool // an undetected change fails the test
}

// TestCorruptionDrills flips one byte of a copy of a data directory, in
// each kind of file (the Pebble write-ahead log, a table, the MANIFEST, the
// OPTIONS file, the lock file, a tip record) and in stored values (a journal
// block, a document's latest and history copies, a Merkle tree node, a
// table's catalogue entry, the ledger's meta record, rewritten through the
// store so that Pebble's checksums hold), and checks that each is detected
// at start-up (the server refuses to open, or refuses or marks damaged the
// ledger), or by strand verify (exit 1 naming the ledger), or harmless
// (verify passes, and the restarted server returns every acknowledged
// document and the same digest). Never a silent loss.
//
// Each drill logs one line, `drill: file=KIND offset=N outcome=...`
// (go test -v). The CI form tries three offsets per kind drawn from a fixed
// seed; STRAND_LONG=1 tries every STRAND_DRILL_STEP-th byte (default 64) of
// every kind instead, or of the kinds whose name starts with
// STRAND_DRILL_KINDS (e.g. "value-").
func TestCorruptionDrills(t *testing.T) {
	servertest.RequireEmbeddedStore(t, "damaged files of the embedded store")
	golden, acked, digest := drillDataDir(t)
	targets := drillTargets(t, golden)

	step := 0
	if os.Getenv("STRAND_LONG") == "1" {
		step = 64
		if v, err := strconv.Atoi(os.Getenv("STRAND_DRILL_STEP")); err == nil && v > 0 {
			step = v
		}
	}
	rng := rand.New(rand.NewPCG(12, 0))
	counts := map[string]int{}
	only := os.Getenv("STRAND_DRILL_KINDS")
	for _, tg := range targets {
		if only != "" && !strings.HasPrefix(tg.kind, only) {
			continue
		}
		var offsets []int
		if step > 0 {
			for o := 0; o < tg.size; o += step {
				offsets = append(offsets, o)
			}
		} else {
			// The first bytes (headers), one at random, the last (trailers).
			offsets = []int{min(7, tg.size-1), rng.IntN(tg.size), max(tg.size-3, 0)}
		}
		slices.Sort(offsets)
		offsets = slices.Compact(offsets)
		for _, off := range offsets {
			outcome, detail := runDrill(t, golden, acked, digest, tg, off)
			counts[outcome]++
			line := fmt.Sprintf("drill: file=%s offset=%d outcome=%s", tg.kind, off, outcome)
			if outcome == silentLoss || outcome == undetected && tg.mustDetect {
				t.Errorf("%s (%s)", line, detail)
			} else {
				t.Logf("%s (%s)", line, firstLine(detail, 160))
			}
		}
	}
	t.Logf("drills: %d detected-at-start, %d detected-by-verify, %d harmless, %d undetected change, %d silent loss",
		counts[detectedAtStart], counts[detectedByVerify], counts[harmless], counts[undetected], counts[silentLoss])
}

func firstLine(s string, max int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

// drillDataDir builds the data directory every drill copies: ledger drill
// with table T and 30 acknowledged documents, the first 20 flushed to
// table files and the last 10 in the write-ahead log only. It returns the
// directory, the acknowledged documents' numbers and the digest.
func drillDataDir(t *testing.T) (string, map[int]bool, string) {
	t.Helper()
	dir := t.TempDir()
	n := servertest.Start(t, func(c *config.Config) { c.DataDir = dir })
	n.CreateLedger("drill")
	drv := n.Driver("drill")
	servertest.Commit(t, drv, "CREATE TABLE T")
	acked := map[int]bool{}
	for i := range 20 {
		servertest.Commit(t, drv, fmt.Sprintf("INSERT INTO T VALUE {'i': %d, 'pad': '%s'}", i, strings.Repeat("x", 50+i)))
		acked[i] = true
	}
	n.Stop()
	flushStore(t, dir)
	n = servertest.StartConfig(t, n.Config)
	drv = n.Driver("drill")
	for i := 20; i < 30; i++ {
		servertest.Commit(t, drv, fmt.Sprintf("INSERT INTO T VALUE {'i': %d}", i))
		acked[i] = true
	}
	digest := drillDigest(t, n)
	n.Stop()
	if rc, out, errOut := runVerify("--data-dir", dir); rc != 0 {
		t.Fatalf("verify of the undamaged directory: exit %d\n%s\n%s", rc, out, errOut)
	}
	return dir, acked, digest
}

func drillDigest(t *testing.T, n *servertest.Node) string {
	t.Helper()
	d, err := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey).GetDigest(context.Background(), &qldb.GetDigestInput{Name: aws.String("drill")})
	if err != nil {
		return "GetDigest: " + err.Error()
	}
	return fmt.Sprintf("%x@%s", d.Digest, aws.ToString(d.DigestTipAddress.IonText))
}

// drillTargets lists the files of golden by kind and the stored values.
func drillTargets(t *testing.T, golden string) []drillTarget {
	t.Helper()
	var out []drillTarget
	file := func(kind, pattern string, pick func([]string) string) {
		paths, _ := filepath.Glob(filepath.Join(golden, pattern))
		if len(paths) == 0 {
			t.Fatalf("no %s file (%s) in the data directory", kind, pattern)
		}
		sort.Strings(paths)
		p := pick(paths)
		fi, err := os.Stat(p)
		if err != nil || fi.Size() == 0 {
			t.Fatalf("%s file %s: %v (size 0?)", kind, p, err)
		}
		rel, _ := filepath.Rel(golden, p)
		out = append(out, drillTarget{kind: kind, size: int(fi.Size()), flip: func(dir string, off int) error {
			path := filepath.Join(dir, rel)
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			raw[off] ^= 0x01
			return os.WriteFile(path, raw, 0o640)
		}})
	}
	last := func(p []string) string { return p[len(p)-1] }
	largest := func(p []string) string {
		best, size := p[0], int64(-1)
		for _, x := range p {
			if fi, err := os.Stat(x); err == nil && fi.Size() > size {
				best, size = x, fi.Size()
			}
		}
		return best
	}
	file("WAL", "pebble/*.log", largest)
	file("sstable", "pebble/*.sst", largest)
	file("MANIFEST", "pebble/MANIFEST-*", last)
	file("OPTIONS", "pebble/OPTIONS-*", last)
	file("lock", "strand.lock", last)
	file("tip-record", "tips/*.tip", last)

	// Stored values: the first key of each kind of the ledger's records.
	st, err := pebblestore.Open(golden, pebblestore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ledgerID string
	err = st.Scan([]byte("l/"), []byte("m"), func(k, _ []byte) bool {
		ledgerID = strings.SplitN(string(k), "/", 3)[1]
		return false
	})
	if err != nil || ledgerID == "" {
		t.Fatalf("no ledger in the store: %v", err)
	}
	lay := journal.LedgerLayout(ledgerID)
	var valueAt func(kind string, lower []byte, within []byte)
	value := func(kind string, lower []byte) { valueAt(kind, lower, nil) }
	must := map[string]bool{"value-block-revision-address": true}
	valueAt = func(kind string, lower []byte, within []byte) {
		var key, val []byte
		if err := st.Scan(lower, store.PrefixEnd(lower), func(k, v []byte) bool {
			key, val = bytes.Clone(k), bytes.Clone(v)
			return false
		}); err != nil || key == nil {
			t.Fatalf("no %s record (%q): %v", kind, lower, err)
		}
		base, size := 0, len(val)
		if within != nil {
			// Only the last copy of within in the value.
			base, size = bytes.LastIndex(val, within), len(within)
			if base < 0 {
				t.Fatalf("%s: %q is not in the value", kind, within)
			}
		}
		out = append(out, drillTarget{kind: kind, size: size, mustDetect: must[kind], flip: func(dir string, off int) error {
			off += base
			st, err := pebblestore.Open(dir, pebblestore.Options{})
			if err != nil {
				return err
			}
			defer st.Close()
			v := slices.Clone(val)
			v[off] ^= 0x01
			b := st.NewBatch()
			defer b.Close()
			if err := b.Set(key, v); err != nil {
				return err
			}
			return st.Apply(b)
		}})
	}
	value("value-block", lay.Block(10))
	// The block address a block's revision repeats (not hashed).
	meta, _, err := st.Get(lay.Meta)
	if err != nil {
		t.Fatal(err)
	}
	_, strandID, _ := strings.Cut(string(meta), `"strandId":"`)
	strandID, _, _ = strings.Cut(strandID, `"`)
	valueAt("value-block-revision-address", lay.Block(10), []byte(strandID))
	value("value-document-latest", lay.Latest)
	value("value-document-history", lay.History)
	value("value-revision-block", lay.RevisionBlocks)
	value("value-merkle-node", lay.Tree)
	value("value-table-catalogue", append(slices.Clone(lay.Prefix), "t/"...))
	value("value-ledger-meta", lay.Meta)
	return out
}

// runDrill damages a copy of golden and classifies what happens.
func runDrill(t *testing.T, golden string, acked map[int]bool, digest string, tg drillTarget, off int) (string, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(golden)); err != nil {
		t.Fatal(err)
	}
	if err := tg.flip(dir, off); err != nil {
		t.Fatalf("drill %s at %d: %v", tg.kind, off, err)
	}
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dir
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	node, err := server.Open(cfg, quiet)
	if err != nil {
		return detectedAtStart, "server.Open: " + err.Error()
	}
	refused := ""
	if mfs, err := node.Metrics().Gather(); err == nil {
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				switch {
				case mf.GetName() == "strand_ledger_missing_acknowledged_blocks":
					refused = fmt.Sprintf("ledger refused: %v acknowledged blocks missing", m.GetGauge().GetValue())
				case mf.GetName() == "strand_orphan_tip_records" && m.GetGauge().GetValue() > 0:
					refused = "orphan tip record"
				case mf.GetName() == "strand_ledger_healthy" && m.GetGauge().GetValue() == 0:
					refused = "ledger marked damaged at start-up"
				}
			}
		}
	}
	node.Close()
	if refused != "" {
		return detectedAtStart, refused
	}
	rc, out, errOut := runVerify("--data-dir", dir)
	switch {
	case rc == 1 && strings.Contains(out, "ledger drill: FAILED") || strings.Contains(out, "): FAILED"):
		return detectedByVerify, strings.TrimSpace(out)
	case rc != 0:
		// Verify could not run: loud, but not the naming verdict the drill
		// wants; reported as a silent loss so that it is looked at.
		return silentLoss, fmt.Sprintf("verify exit %d: %s %s", rc, out, errOut)
	}
	// Verify passes: the damage must be harmless. The digest first: a
	// read transaction commits a block too.
	n := servertest.StartConfig(t, cfg)
	defer n.Stop()
	if got := drillDigest(t, n); got != digest {
		return silentLoss, fmt.Sprintf("verify passed but the digest changed: %s, was %s", got, digest)
	}
	drv := n.Driver("drill", func(o *qldbdriver.DriverOptions) { o.RetryPolicy.MaxRetryLimit = 0 })
	rows, err := servertest.Query(drv, "SELECT i FROM T")
	if err != nil {
		return detectedByVerify, "verify passed but reading failed: " + err.Error()
	}
	have := map[int]bool{}
	for _, r := range rows {
		if f := r.Get("i"); f != nil {
			have[int(f.Int)] = true
		}
	}
	for i := range acked {
		if !have[i] {
			return silentLoss, fmt.Sprintf("verify passed but acknowledged document %d is missing (%d of %d present)", i, len(have), len(acked))
		}
	}
	if strings.HasPrefix(tg.kind, "value-") {
		return undetected, "verify passed; every acknowledged document and the digest intact, but the stored value differs"
	}
	return harmless, "verify passed; every acknowledged document and the digest intact"
}
