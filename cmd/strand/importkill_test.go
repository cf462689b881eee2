package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/store"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
	"github.com/strand-db/strand/internal/testenv/ledgerfill"
)

// envImportChild holds "POINT DATADIR EXPORTDIR" for the child process of
// TestImportKilled.
const envImportChild = "STRAND_TEST_IMPORT_CHILD"

// writeExportDir lays out every block of ledger name of the data
// directory dir as a QLDB journal export (Ion text, perObject blocks per
// data object, one completed manifest) in a new directory, and returns it
// with the ledger's digest.
func writeExportDir(t *testing.T, dir, name string, perObject int) (string, *qldb.GetDigestOutput) {
	t.Helper()
	cfg := config.Default()
	cfg.Listen, cfg.DataDir = "127.0.0.1:0", dir
	n := servertest.StartConfig(t, cfg)
	defer n.Stop()
	blocks := servertest.Blocks(t, n.LedgerEngine(name))
	dg, err := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey).GetDigest(context.Background(), &qldb.GetDigestInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	strand := blocks[0].Address.StrandID
	var keys []string
	for first := 0; first < len(blocks); first += perObject {
		last := min(first+perObject, len(blocks)) - 1
		var b bytes.Buffer
		for _, blk := range blocks[first : last+1] {
			b.WriteString(ionvalue.MarshalText(blk.Ion()))
			b.WriteByte('\n')
		}
		key := fmt.Sprintf("exp/2026/01/01/00/%s.%d-%d.ion", strand, first, last)
		if err := os.MkdirAll(filepath.Join(out, filepath.Dir(key)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, key), b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, fmt.Sprintf("%q", key))
	}
	manifest := "{keys:[" + strings.Join(keys, ",") + "]}"
	if err := os.WriteFile(filepath.Join(out, "exp", "0000000000000000000001."+strand+".completed.manifest"), []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	return out, dg
}

// ledgerExists reports whether the catalogue of the embedded store of dir
// has ledger name.
func ledgerExists(t *testing.T, dir, name string) bool {
	t.Helper()
	st, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cat, err := ledger.Open(st, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cat.Describe(name)
	return err == nil
}

// ledgerIDsInStore returns the ledger ids that have any key (l/<id>/...)
// in the embedded store of dir.
func ledgerIDsInStore(t *testing.T, dir string) map[string]bool {
	t.Helper()
	st, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids := map[string]bool{}
	lo := []byte("l/")
	for {
		var key []byte
		if err := st.Scan(lo, store.PrefixEnd([]byte("l/")), func(k, _ []byte) bool { key = bytes.Clone(k); return false }); err != nil {
			t.Fatal(err)
		}
		if key == nil {
			return ids
		}
		id, _, _ := strings.Cut(string(key[2:]), "/")
		ids[id] = true
		lo = store.PrefixEnd([]byte("l/" + id + "/"))
	}
}

// TestImportKilled (issue 16): strand import killed with SIGKILL partway
// through its writes (a child process runs it on an export of a
// 1,200-block ledger and kills itself after the first durable batch of
// blocks, after the first batch of derived records, or after the
// catalogue entry is written). Before the catalogue entry the ledger is
// absent (the catalogue a server loads does not have it) and a rerun of
// the import removes the leftovers and completes it; after the entry the
// ledger is complete and a rerun answers that it exists. Either way the
// ledger then passes strand verify with the source's digest, no data of
// another ledger id is left in the store, and (once) a node serves it
// and a new commit chains on.
func TestImportKilled(t *testing.T) {
	if v := os.Getenv(envImportChild); v != "" {
		f := strings.Fields(v)
		importCrashPoint = func(point string) {
			if point == f[0] {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
		code, out := runImport(t, "--ledger", "fleet", "--from", f[2], "--data-dir", f[1])
		t.Fatalf("the import ended (exit %d) before the child killed itself at %s\n%s", code, f[0], out)
	}
	servertest.RequireEmbeddedStore(t, "a child process imports into a data directory")
	src := t.TempDir()
	if err := ledgerfill.Build(src, "fleet", 1200, ledgerfill.Options{Sessions: 8}); err != nil {
		t.Fatal(err)
	}
	exp, dg := writeExportDir(t, src, "fleet", 200)
	for _, point := range []string{"blocks", "derived", "catalogue"} {
		t.Run(point, func(t *testing.T) {
			dir := t.TempDir()
			cfg := config.Default()
			cfg.Listen, cfg.DataDir = "127.0.0.1:0", dir
			servertest.StartConfig(t, cfg).Stop()
			cmd := exec.Command(os.Args[0], "-test.run=^TestImportKilled$", "-test.count=1")
			cmd.Env = append(os.Environ(), envImportChild+"="+point+" "+dir+" "+exp)
			cout, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child: %v, want killed by SIGKILL\n%s", err, cout)
			}
			if exists := ledgerExists(t, dir, "fleet"); exists != (point == "catalogue") {
				t.Fatalf("after an import killed at %s, ledger fleet exists: %v", point, exists)
			}
			code, out := runImport(t, "--ledger", "fleet", "--from", exp, "--data-dir", dir)
			if point != "catalogue" && code != 0 {
				t.Fatalf("rerun after an import killed at %s: exit %d\n%s", point, code, out)
			}
			if point == "catalogue" && (code != 1 || !strings.Contains(out, "already exists")) {
				t.Fatalf("rerun after the catalogue entry was written: exit %d, want 1 (already exists)\n%s", code, out)
			}
			code, vout, errOut := runVerify("--data-dir", dir, "--ledger", "fleet")
			if wantDigest := "digest " + base64.StdEncoding.EncodeToString(dg.Digest) + " at"; code != 0 || !strings.Contains(vout, wantDigest) {
				t.Fatalf("verify: exit %d, want 0 and %q\n%s%s", code, wantDigest, vout, errOut)
			}
			if ids := ledgerIDsInStore(t, dir); len(ids) != 1 {
				t.Fatalf("the store holds data of %d ledger ids, want 1: %v", len(ids), ids)
			}
			if point == "blocks" {
				n := servertest.StartConfig(t, cfg)
				servertest.Commit(t, n.Driver("fleet"), "INSERT INTO T VALUE {'after': 1}")
				servertest.VerifyChain(t, n.LedgerEngine("fleet"))
				n.Stop()
			}
		})
	}
}
