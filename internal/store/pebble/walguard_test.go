package pebblestore

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/store/pebble/faultfs"
)

// putKey commits key k (value "v-"+k) and returns Apply's error.
func putKey(t *testing.T, st *Store, k string) error {
	t.Helper()
	b := st.NewBatch()
	defer b.Close()
	if err := b.Set([]byte(k), []byte("v-"+k)); err != nil {
		t.Fatal(err)
	}
	return st.Apply(b)
}

// openFaulty opens a store in dir over a fault-injecting file system and
// commits n keys acked0..acked<n-1> (each acknowledged).
func openFaulty(t *testing.T, dir string, n int) (*Store, *faultfs.FS) {
	t.Helper()
	fs := faultfs.New(nil)
	st, err := Open(dir, Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := putKey(t, st, fmt.Sprintf("acked%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	return st, fs
}

// reopenAcked closes st, reopens dir on the real file system and checks
// that the n acknowledged keys of openFaulty are all there; the caller
// closes the store it returns.
func reopenAcked(t *testing.T, st *Store, dir string, n int) *Store {
	t.Helper()
	_ = st.Close() // may report the failed log
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, ok, err := st.Get(fmt.Appendf(nil, "acked%d", i)); err != nil || !ok {
			_ = st.Close()
			t.Fatalf("acknowledged key %d after reopening: %v %v", i, ok, err)
		}
	}
	return st
}

// A failure to create the next write-ahead log file (forced here by a
// memtable flush, which rotates the log) puts the store in its failed
// state like a failed write: later commits are refused with ErrFailed
// naming the fault, reads are served, and reopening gives back every
// acknowledged commit. The old code ended the process (Pebble panics, and
// the panic meets an unlock of an unlocked mutex: a fatal error).
func TestWALCreateFaultRefusesCommit(t *testing.T) {
	dir := t.TempDir()
	st, fs := openFaulty(t, dir, 5)
	fs.Fail(faultfs.WAL, faultfs.Create, faultfs.EIO)
	_ = st.Flush() // rotates the log: creating the next one fails
	if fs.Injected() == 0 {
		t.Fatal("no fault was injected")
	}
	if f := st.Failure(); !errors.Is(f, ErrFailed) || !errors.Is(f, faultfs.EIO) || !strings.Contains(f.Error(), "write-ahead log file") {
		t.Fatalf("store failure after the log could not be created: %v", f)
	}
	fs.Clear()
	if err := putKey(t, st, "refused"); !errors.Is(err, ErrFailed) {
		t.Fatalf("commit after the failure: %v, want ErrFailed until reopened", err)
	}
	if v, ok, err := st.Get([]byte("acked4")); err != nil || !ok || string(v) != "v-acked4" {
		t.Fatalf("read after the failure: %q %v %v", v, ok, err)
	}
	st = reopenAcked(t, st, dir, 5)
	defer st.Close()
	if _, ok, _ := st.Get([]byte("refused")); ok {
		t.Fatal("a refused commit is in the store")
	}
	if err := putKey(t, st, "again"); err != nil {
		t.Fatalf("commit after reopening: %v", err)
	}
}

// envManifestChild names the data directory of the child process of
// TestManifestFaultExitsCleanly.
const envManifestChild = "STRAND_TEST_MANIFEST_CHILD"

// A failed sync of the MANIFEST (during a memtable flush) cannot be
// survived: Pebble does not unwind the failed edit. The process exits at
// once (status 1) with a message naming the fault and saying that a
// restart keeps every acknowledged commit; the test runs that in a child
// process, then reopens the directory and finds every commit the child
// acknowledged before the fault.
func TestManifestFaultExitsCleanly(t *testing.T) {
	if dir := os.Getenv(envManifestChild); dir != "" {
		fs := faultfs.New(nil)
		st, err := Open(dir, Options{FS: fs})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			if err := putKey(t, st, fmt.Sprintf("acked%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		fs.Fail(faultfs.Manifest, faultfs.Sync, faultfs.EIO)
		err = st.Flush()
		t.Fatalf("the flush whose MANIFEST sync failed returned (%v) instead of ending the process", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestManifestFaultExitsCleanly$", "-test.count=1")
	cmd.Env = append(os.Environ(), envManifestChild+"="+dir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("child: %v, want exit status 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "could not write its MANIFEST (MANIFEST sync failed") || !strings.Contains(string(out), "every acknowledged commit is kept") {
		t.Fatalf("the child's output does not name the MANIFEST fault:\n%s", out)
	}
	st, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("reopen after the exit: %v", err)
	}
	defer st.Close()
	for i := range 20 {
		if _, ok, err := st.Get(fmt.Appendf(nil, "acked%d", i)); err != nil || !ok {
			t.Fatalf("acknowledged key %d after the restart: %v %v", i, ok, err)
		}
	}
	if err := putKey(t, st, "again"); err != nil {
		t.Fatalf("commit after the restart: %v", err)
	}
}
