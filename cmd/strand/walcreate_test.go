package main

import (
	"testing"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
	"github.com/strand-db/strand/internal/store/pebble/faultfs"
)

// TestWALCreateFaultBeneathTheStore makes creating the next write-ahead
// log file fail beneath a serving node (the memtable is flushed, which
// rotates the log, while the disk refuses new files): the node stays up,
// the next commit is answered InternalFailure saying it is not durable
// (the old code ended the process: Pebble panics), reads are served, and
// after a restart every acknowledged commit is there, commits resume and
// strand verify passes.
func TestWALCreateFaultBeneathTheStore(t *testing.T) {
	servertest.RequireEmbeddedStore(t, "faults injected beneath Pebble")
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	fs := faultfs.New(nil)
	st, err := pebblestore.Open(cfg.DataDir, pebblestore.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	n := servertest.StartWithStore(t, cfg, st)
	n.CreateLedger("hit")
	drv := n.Driver("hit", noRetry)
	servertest.Commit(t, drv, "CREATE TABLE T")
	acked := map[int]bool{}
	for i := range 5 {
		if err := insert(drv, i); err != nil {
			t.Fatal(err)
		}
		acked[i] = true
	}
	fs.Fail(faultfs.WAL, faultfs.Create, faultfs.EIO)
	_ = st.Flush()
	if fs.Injected() == 0 {
		t.Fatal("no fault was injected")
	}
	fs.Clear()
	wantNotDurable(t, "commit after the log could not be created", insert(drv, 100))
	checkAcked(t, drv, acked, true)
	_ = n.StopErr()

	n = servertest.StartConfig(t, cfg)
	drv = n.Driver("hit")
	checkAcked(t, drv, acked, false)
	if err := insert(drv, 5); err != nil {
		t.Fatalf("commit after the restart: %v", err)
	}
	n.Stop()
	if rc, out, errOut := runVerify("--data-dir", cfg.DataDir); rc != 0 {
		t.Fatalf("verify after the restart: exit %d\nstdout:\n%s\nstderr:\n%s", rc, out, errOut)
	}
}
