package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession/types"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/server/servertest"
)

func runRepair(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := repairCmd(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func commitN(t *testing.T, drv *qldbdriver.QLDBDriver, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		servertest.Commit(t, drv, fmt.Sprintf("INSERT INTO T VALUE {'i': %d}", i))
	}
}

// missingGauge reads strand_ledger_missing_acknowledged_blocks{ledger}.
func missingGauge(t *testing.T, n *servertest.Node, ledgerName string) (float64, bool) {
	t.Helper()
	mfs, err := n.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "strand_ledger_missing_acknowledged_blocks" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "ledger" && lp.GetValue() == ledgerName {
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// TestJournalShorterThanAcknowledged simulates a Pebble write-ahead log that
// lost its last acknowledged batches: the data directory's pebble/ is put
// back to a copy taken six commits earlier, while everything outside it
// (the acknowledged-tip records) is as the server left it. The restarted
// server must refuse that ledger, naming blocks 15–20, and keep serving the
// other ledger (which committed nothing after the copy); strand verify must fail naming the same blocks; after `strand
// repair accept-journal-loss` both pass and the ledger continues from its
// journal's tip. Deleting a ledger removes its tip record.
func TestJournalShorterThanAcknowledged(t *testing.T) {
	servertest.RequireEmbeddedStore(t, "tip record files against a journal cut short on disk")
	ctx := context.Background()
	n := servertest.Start(t, nil)
	dir := n.Config.DataDir
	n.CreateLedger("lossy")
	n.CreateLedger("fine")
	lossy, fine := n.Driver("lossy"), n.Driver("fine")
	for _, d := range []*qldbdriver.QLDBDriver{lossy, fine} {
		if _, err := d.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) { return tx.Execute("CREATE TABLE T") }); err != nil {
			t.Fatal(err)
		}
	}
	commitN(t, lossy, 14) // blocks 0..14
	commitN(t, fine, 3)
	n.Stop()
	snapshot := t.TempDir()
	if err := os.CopyFS(filepath.Join(snapshot, "pebble"), os.DirFS(filepath.Join(dir, "pebble"))); err != nil {
		t.Fatal(err)
	}

	n = servertest.StartConfig(t, n.Config)
	commitN(t, n.Driver("lossy"), 6) // blocks 15..20, acknowledged
	n.Stop()
	// Pebble loses its newest batches: the store goes back to the copy.
	if err := os.RemoveAll(filepath.Join(dir, "pebble")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dir, "pebble"), os.DirFS(filepath.Join(snapshot, "pebble"))); err != nil {
		t.Fatal(err)
	}

	const want = "blocks 15–20 (6 blocks) are missing"
	n = servertest.StartConfig(t, n.Config)
	sc := n.Session(servertest.AccessKeyID, servertest.SecretAccessKey)
	_, err := sc.SendCommand(ctx, &qldbsession.SendCommandInput{StartSession: &types.StartSessionRequest{LedgerName: aws.String("lossy")}})
	if err == nil {
		t.Fatal("StartSession on a ledger missing acknowledged blocks succeeded")
	}
	ae := servertest.APIError(t, err)
	code, msg := ae.ErrorCode(), ae.ErrorMessage()
	if code != "BadRequestException" || !strings.Contains(msg, "journal ends at block 14 but blocks up to 20 were acknowledged") ||
		!strings.Contains(msg, want) || !strings.Contains(msg, "strand repair accept-journal-loss --ledger lossy") {
		t.Fatalf("StartSession: %s: %s", code, msg)
	}
	_, err = n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey).GetDigest(ctx, &qldb.GetDigestInput{Name: aws.String("lossy")})
	if err == nil {
		t.Fatal("GetDigest on a ledger missing acknowledged blocks succeeded")
	}
	if ae := servertest.APIError(t, err); ae.ErrorCode() != "ResourcePreconditionNotMetException" || !strings.Contains(ae.ErrorMessage(), want) {
		t.Fatalf("GetDigest: %s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	if v, ok := missingGauge(t, n, "lossy"); !ok || v != 6 {
		t.Errorf("strand_ledger_missing_acknowledged_blocks{ledger=lossy} = %v (present %v), want 6", v, ok)
	}
	// The other ledger serves.
	commitN(t, n.Driver("fine"), 1)
	n.Stop()

	rc, out, errOut := runVerify("--data-dir", dir)
	if rc != 1 || !strings.Contains(out, "ledger lossy: FAILED: first bad block 15: tip check") || !strings.Contains(out, want) ||
		!strings.Contains(out, "ledger fine: OK") {
		t.Fatalf("verify: exit %d\nstdout:\n%s\nstderr:\n%s", rc, out, errOut)
	}

	rc, out, errOut = runRepair("accept-journal-loss", "--data-dir", dir, "--ledger", "lossy")
	if rc != 0 || !strings.Contains(out, "blocks 15–20 (6 blocks) acknowledged to clients are lost") {
		t.Fatalf("repair: exit %d\nstdout:\n%s\nstderr:\n%s", rc, out, errOut)
	}
	if rc, out, _ := runRepair("accept-journal-loss", "--data-dir", dir, "--ledger", "lossy"); rc != 0 || !strings.Contains(out, "nothing to accept") {
		t.Errorf("second repair: exit %d: %s", rc, out)
	}
	if rc, out, errOut := runVerify("--data-dir", dir); rc != 0 {
		t.Fatalf("verify after repair: exit %d\nstdout:\n%s\nstderr:\n%s", rc, out, errOut)
	}

	n = servertest.StartConfig(t, n.Config)
	commitN(t, n.Driver("lossy"), 1)
	l := n.LedgerEngine("lossy")
	if l.Next() != 16 {
		t.Fatalf("after accepting the loss the next commit became block %d, want 15", l.Next()-1)
	}

	// Deleting a ledger removes its tip record.
	meta, err := n.Ledgers().Describe("fine")
	if err != nil {
		t.Fatal(err)
	}
	tip := filepath.Join(dir, "tips", meta.ID+".tip")
	if _, err := os.Stat(tip); err != nil {
		t.Fatalf("ledger fine has no tip record: %v", err)
	}
	if _, err := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey).DeleteLedger(ctx, &qldb.DeleteLedgerInput{Name: aws.String("fine")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tip); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the deleted ledger's tip record is still there (%v)", err)
	}
}

// TestTipRecordUnreadable damages both slots of a ledger's tip record: the
// server cannot tell whether acknowledged blocks were lost, so it refuses
// the ledger and says why, strand verify fails, and after strand repair
// accept-journal-loss the ledger serves with its journal intact.
func TestTipRecordUnreadable(t *testing.T) {
	servertest.RequireEmbeddedStore(t, "tip record files")
	ctx := context.Background()
	n := servertest.Start(t, nil)
	dir := n.Config.DataDir
	n.CreateLedger("torn")
	drv := n.Driver("torn")
	if _, err := drv.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) { return tx.Execute("CREATE TABLE T") }); err != nil {
		t.Fatal(err)
	}
	commitN(t, drv, 3) // blocks 0..3
	meta, err := n.Ledgers().Describe("torn")
	if err != nil {
		t.Fatal(err)
	}
	n.Stop()
	path := filepath.Join(dir, "tips", meta.ID+".tip")
	raw, err := os.ReadFile(path)
	if err != nil || len(raw) != 1024 {
		t.Fatalf("tip record: %d bytes, %v", len(raw), err)
	}
	raw[20] ^= 0x10  // slot A
	raw[512] ^= 0x01 // slot B
	if err := os.WriteFile(path, raw, 0o640); err != nil {
		t.Fatal(err)
	}

	n = servertest.StartConfig(t, n.Config)
	_, err = n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey).GetDigest(ctx, &qldb.GetDigestInput{Name: aws.String("torn")})
	if err == nil {
		t.Fatal("GetDigest succeeded on a ledger whose tip record is unreadable")
	}
	if ae := servertest.APIError(t, err); ae.ErrorCode() != "ResourcePreconditionNotMetException" ||
		!strings.Contains(ae.ErrorMessage(), "journal ends at block 3 but its acknowledged-tip record is unreadable") {
		t.Fatalf("GetDigest: %s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	if v, ok := missingGauge(t, n, "torn"); !ok || v != -1 {
		t.Errorf("strand_ledger_missing_acknowledged_blocks{ledger=torn} = %v (present %v), want -1", v, ok)
	}
	n.Stop()

	if rc, out, errOut := runVerify("--data-dir", dir); rc != 1 || !strings.Contains(out, "ledger torn: FAILED") || !strings.Contains(out, "unreadable") {
		t.Fatalf("verify: exit %d\nstdout:\n%s\nstderr:\n%s", rc, out, errOut)
	}
	if rc, out, errOut := runRepair("accept-journal-loss", "--data-dir", dir, "--ledger", "torn"); rc != 0 || !strings.Contains(out, "the journal as it is (4 blocks) is now the acknowledged tip") {
		t.Fatalf("repair: exit %d\nstdout:\n%s\nstderr:\n%s", rc, out, errOut)
	}
	n = servertest.StartConfig(t, n.Config)
	commitN(t, n.Driver("torn"), 1)
	if l, err := n.Sessions().Ledger("torn"); err != nil || l.Next() != 5 {
		t.Fatalf("after repair: %v", err)
	}
}
