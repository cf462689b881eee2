package main

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
	"github.com/strand-db/strand/internal/testenv/ledgerfill"
)

func runVerify(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := verifyCmd(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestVerifyCommand(t *testing.T) {
	dir := t.TempDir()
	if err := ledgerfill.Build(dir, "cars", 300, ledgerfill.Options{Sessions: 8}); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runVerify("--data-dir", dir)
	if code != 0 || !strings.Contains(out, "ledger cars: OK: ") || !strings.Contains(out, "verified 1 ledger(s)") {
		t.Fatalf("clean data: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if code, _, errOut := runVerify("--data-dir", dir, "--ledger", "nope"); code != 2 || !strings.Contains(errOut, "no such ledger") {
		t.Errorf("unknown ledger: exit %d, %s", code, errOut)
	}
	if code, _, errOut := runVerify("--data-dir", filepath.Join(dir, "missing")); code != 2 || !strings.Contains(errOut, "holds no Strand data") {
		t.Errorf("missing directory: exit %d, %s", code, errOut)
	}
	if code, _, _ := runVerify("--data-dir", dir, "extra"); code != 2 {
		t.Errorf("extra argument: exit %d", code)
	}

	// While something holds the store (a server would), verify refuses.
	st, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runVerify("--data-dir", dir)
	if code != 2 || !strings.Contains(errOut, "in use by another strand process") || !strings.Contains(errOut, "stop the server first") {
		t.Errorf("locked store: exit %d, %s", code, errOut)
	}

	// Flip one byte of block 200's blockHash behind the server's back.
	cat, err := ledger.Open(st, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := cat.Describe("cars")
	if err != nil {
		t.Fatal(err)
	}
	key := append([]byte("l/"+l.ID+"/b/"), 0, 0, 0, 0, 0, 0, 0, 200)
	v, ok, err := st.Get(key)
	if err != nil || !ok {
		t.Fatalf("block 200: %v %v", ok, err)
	}
	iv, err := ionvalue.DecodeOne(v)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := journal.BlockFromIon(iv)
	if err != nil {
		t.Fatal(err)
	}
	v[bytes.Index(v, blk.BlockHash)+5] ^= 0x40
	b := st.NewBatch()
	if err := b.Set(key, v); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(b); err != nil {
		t.Fatal(err)
	}
	b.Close()
	st.Close()
	code, out, errOut = runVerify("--data-dir", dir, "--ledger", "cars")
	if code != 1 || !strings.Contains(out, "ledger cars: FAILED: first bad block 200: block check") {
		t.Errorf("tampered block: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// TestVerifyWritesNothing checks that strand verify opens the store
// read-only: every file under the data directory's pebble/ is the same,
// byte for byte, after it as before, although the write-ahead log holds a
// batch that a read-write open would replay into a new table and log.
func TestVerifyWritesNothing(t *testing.T) {
	dir := t.TempDir()
	if err := ledgerfill.Build(dir, "cars", 20, ledgerfill.Options{Sessions: 2}); err != nil {
		t.Fatal(err)
	}
	st, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := st.NewBatch()
	if err := b.Set([]byte("zz/unrelated"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(b); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	before := dirFiles(t, filepath.Join(dir, "pebble"))
	if code, out, errOut := runVerify("--data-dir", dir); code != 0 {
		t.Fatalf("verify: exit %d\n%s\n%s", code, out, errOut)
	}
	after := dirFiles(t, filepath.Join(dir, "pebble"))
	for name, h := range before {
		if a, ok := after[name]; !ok {
			t.Errorf("verify removed %s", name)
		} else if a != h {
			t.Errorf("verify changed %s", name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("verify created %s", name)
		}
	}
}

// dirFiles returns the SHA-256 of every file in dir, by name.
func dirFiles(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][32]byte{}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(raw)
	}
	return out
}
