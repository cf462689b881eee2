package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession/types"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/server"
	"github.com/strand-db/strand/internal/server/servertest"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
)

// TestDamagedWALProcedure follows docs/operations.md, "A damaged
// write-ahead log": a flipped byte in the middle of the active Pebble log
// stops start-up with an error that says what to do; moving that log aside
// (the documented procedure) lets the server start, and the tip records,
// kept outside Pebble, make the ledger whose acknowledged blocks were in
// that log refuse to serve, naming them, until the loss is accepted.
func TestDamagedWALProcedure(t *testing.T) {
	servertest.RequireEmbeddedStore(t, "Pebble's write-ahead log")
	ctx := context.Background()
	n := servertest.Start(t, nil)
	dir := n.Config.DataDir
	n.CreateLedger("walled")
	if _, err := n.Driver("walled").Execute(ctx, func(tx qldbdriver.Transaction) (any, error) { return tx.Execute("CREATE TABLE T") }); err != nil {
		t.Fatal(err)
	}
	commitN(t, n.Driver("walled"), 4) // blocks 0..4
	n.Stop()
	// Everything so far goes into Pebble's tables, so that only what
	// follows lives in the write-ahead log alone.
	flushStore(t, dir)
	n = servertest.StartConfig(t, n.Config)
	commitN(t, n.Driver("walled"), 40) // blocks 5..44, acknowledged, in the log only
	n.Stop()

	logs, _ := filepath.Glob(filepath.Join(dir, "pebble", "*.log"))
	var active string
	var size int64
	for _, l := range logs {
		if fi, err := os.Stat(l); err == nil && fi.Size() > size {
			active, size = l, fi.Size()
		}
	}
	raw, err := os.ReadFile(active)
	if err != nil || len(raw) < 4096 {
		t.Fatalf("active log %s: %d bytes, %v", active, len(raw), err)
	}
	raw[len(raw)/3] ^= 0x01
	if err := os.WriteFile(active, raw, 0o640); err != nil {
		t.Fatal(err)
	}

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if node, err := server.Open(n.Config, quiet); err == nil {
		node.Close()
		t.Fatal("the server opened a store whose write-ahead log is damaged mid-log")
	} else if !strings.Contains(err.Error(), "A damaged write-ahead log") {
		t.Fatalf("start-up error does not point to the procedure: %v", err)
	}

	// The procedure: move the damaged log aside and start.
	if err := os.Rename(active, filepath.Join(t.TempDir(), filepath.Base(active))); err != nil {
		t.Fatal(err)
	}
	n = servertest.StartConfig(t, n.Config)
	_, err = n.Session(servertest.AccessKeyID, servertest.SecretAccessKey).SendCommand(ctx,
		&qldbsession.SendCommandInput{StartSession: &types.StartSessionRequest{LedgerName: aws.String("walled")}})
	if err == nil {
		t.Fatal("StartSession succeeded on a ledger that lost acknowledged blocks with its log")
	}
	if ae := servertest.APIError(t, err); ae.ErrorCode() != "BadRequestException" || !strings.Contains(ae.ErrorMessage(), "blocks up to 44 were acknowledged") {
		t.Fatalf("StartSession: %s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	n.Stop()
	if rc, out, errOut := runVerify("--data-dir", dir); rc != 1 || !strings.Contains(out, "tip check") {
		t.Fatalf("verify: exit %d\nstdout:\n%s\nstderr:\n%s", rc, out, errOut)
	}
	if rc, out, errOut := runRepair("accept-journal-loss", "--data-dir", dir, "--ledger", "walled"); rc != 0 {
		t.Fatalf("repair: exit %d\nstdout:\n%s\nstderr:\n%s", rc, out, errOut)
	}
	n = servertest.StartConfig(t, n.Config)
	commitN(t, n.Driver("walled"), 1)
}

// TestOrphanTipRecordReported removes a ledger from the catalogue behind
// the server's back, as a damaged write-ahead log moved aside can: its tip
// record remains, and start-up (log and strand_orphan_tip_records) and
// strand verify report the ledger the catalogue no longer has.
func TestOrphanTipRecordReported(t *testing.T) {
	servertest.RequireEmbeddedStore(t, "tip record files")
	ctx := context.Background()
	n := servertest.Start(t, nil)
	dir := n.Config.DataDir
	n.CreateLedger("kept")
	n.CreateLedger("vanished")
	if _, err := n.Driver("vanished").Execute(ctx, func(tx qldbdriver.Transaction) (any, error) { return tx.Execute("CREATE TABLE T") }); err != nil {
		t.Fatal(err)
	}
	meta, err := n.Ledgers().Describe("vanished")
	if err != nil {
		t.Fatal(err)
	}
	n.Stop()
	st, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := st.NewBatch()
	if err := b.Delete([]byte("c/ledger/vanished")); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(b); err != nil {
		t.Fatal(err)
	}
	b.Close()
	st.Close()

	n = servertest.StartConfig(t, n.Config)
	mfs, err := n.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	orphans := -1.0
	for _, mf := range mfs {
		if mf.GetName() == "strand_orphan_tip_records" {
			orphans = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if orphans != 1 {
		t.Fatalf("strand_orphan_tip_records = %v, want 1", orphans)
	}
	n.Stop()
	rc, out, errOut := runVerify("--data-dir", dir)
	if rc != 1 || !strings.Contains(out, "ledger (id "+meta.ID+"): FAILED") || !strings.Contains(out, "not in the ledger catalogue") ||
		!strings.Contains(out, "ledger kept: OK") {
		t.Fatalf("verify: exit %d\nstdout:\n%s\nstderr:\n%s", rc, out, errOut)
	}
}

// flushStore opens the stopped server's store in dir and flushes it, so that
// everything written so far is in Pebble's table files, not only its log.
func flushStore(t *testing.T, dir string) {
	t.Helper()
	st, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}
