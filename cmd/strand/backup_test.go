package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/amzn/ion-go/ion"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/stream/record"
	"github.com/strand-db/strand/internal/stream/streamtest"
	"github.com/strand-db/strand/internal/testenv"
	"github.com/strand-db/strand/internal/testenv/kinesisemu"
)

// runBackup runs `strand backup` signed with the given key pair and returns
// its exit code, output and how long it took.
func runBackup(t *testing.T, bin, endpoint, to, key, secret string) (int, string, time.Duration) {
	t.Helper()
	cmd := exec.Command(bin, "backup", "--endpoint", endpoint, "--to", to)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"AWS_ACCESS_KEY_ID=" + key, "AWS_SECRET_ACCESS_KEY=" + secret, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), took
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), took
}

// committedKeys reads every document of table T through the committed view:
// its key k and the journal block that holds its revision.
func committedKeys(t *testing.T, ctx context.Context, drv *qldbdriver.QLDBDriver) map[string]uint64 {
	t.Helper()
	out, err := drv.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) {
		res, err := tx.Execute("SELECT c.blockAddress.sequenceNo AS s, c.data.k AS k FROM _ql_committed_T AS c")
		if err != nil {
			return nil, err
		}
		keys := map[string]uint64{}
		for res.Next(tx) {
			var row struct {
				S uint64 `ion:"s"`
				K string `ion:"k"`
			}
			if err := ion.Unmarshal(res.GetCurrentData(), &row); err != nil {
				return nil, err
			}
			keys[row.K] = row.S
		}
		return keys, res.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.(map[string]uint64)
}

var sequenceNoRE = regexp.MustCompile(`sequenceNo:\s*(\d+)`)

// digestTip returns the sequence number of the block a ledger's digest covers.
func digestTip(t *testing.T, ctx context.Context, qc *qldb.Client, name string) uint64 {
	t.Helper()
	d, err := qc.GetDigest(ctx, &qldb.GetDigestInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	m := sequenceNoRE.FindStringSubmatch(*d.DigestTipAddress.IonText)
	if m == nil {
		t.Fatalf("digest tip address %q", *d.DigestTipAddress.IonText)
	}
	seq, _ := strconv.ParseUint(m[1], 10, 64)
	return seq
}

// blockSeqs returns the sequence numbers of the blocks a stream delivered
// and the transaction ids in them.
func blockSeqs(t *testing.T, ctx context.Context, emu *kinesisemu.Emulator, stream string) (map[uint64]bool, map[string]bool) {
	t.Helper()
	col, err := streamtest.Read(ctx, emu, stream)
	if err != nil {
		t.Fatal(err)
	}
	seqs, txs := map[uint64]bool{}, map[string]bool{}
	for _, d := range col.Records {
		if d.Record.Type == record.TypeBlockSummary {
			seqs[d.Record.Block.Address.SequenceNo] = true
			txs[d.Record.Block.TransactionID] = true
		}
	}
	return seqs, txs
}

// TestOnlineBackup runs its two cases on one build of the binary.
func TestOnlineBackup(t *testing.T) {
	bin := buildStrand(t)
	t.Run("RestoreUnderLoad", func(t *testing.T) { testBackupRestoreUnderLoad(t, bin) })
	t.Run("Authorization", func(t *testing.T) { testBackupAuthorization(t, bin) })
}

// testBackupRestoreUnderLoad takes a backup of a server while driver clients
// commit and a journal stream delivers to Kinesis, then restores it: the
// copy passes strand verify, serves, holds every commit acknowledged before
// the backup request began (its digest covers their blocks), and its stream
// resumes from the checkpoint in the copy, with no gap.
//
// The CI form commits 100 transactions from 4 clients before the backup;
// STRAND_LONG=1 commits 20,000 from 16 clients (the backup's time and size
// are logged: go test -v).
func testBackupRestoreUnderLoad(t *testing.T, bin string) {
	ctx := context.Background()
	target, writers, wait := 100, 4, 60*time.Second
	if os.Getenv("STRAND_LONG") == "1" {
		target, writers, wait = 20000, 16, 15*time.Minute
	}
	if os.Getenv(servertest.EnvStore) == "postgres" {
		t.Skip("backups of a PostgreSQL store are PostgreSQL's job (the Authorization case checks the refusal)")
	}
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("bk", 2))
	p := startServe(t, bin, t.TempDir(), emu.Endpoint)
	qc, sc := p.clients()
	if _, err := qc.CreateLedger(ctx, &qldb.CreateLedgerInput{Name: aws.String("bk"), PermissionsMode: types.PermissionsModeAllowAll}); err != nil {
		t.Fatal(err)
	}
	drv, err := qldbdriver.New("bk", sc, func(o *qldbdriver.DriverOptions) { o.LoggerVerbosity = qldbdriver.LogOff })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drv.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) { return tx.Execute("CREATE TABLE T") }); err != nil {
		t.Fatal(err)
	}
	_, err = qc.StreamJournalToKinesis(ctx, &qldb.StreamJournalToKinesisInput{LedgerName: aws.String("bk"),
		RoleArn: aws.String("arn:aws:iam::000000000000:role/r"), StreamName: aws.String("bk"), InclusiveStartTime: aws.Time(time.Now().Add(-time.Hour)),
		KinesisConfiguration: &types.KinesisConfiguration{StreamArn: aws.String(emu.StreamARN("bk"))}})
	if err != nil {
		t.Fatal(err)
	}

	// Writers commit until told to stop; acked holds what was acknowledged.
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("w%d-%d", w, i)
				_, err := drv.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) {
					return tx.Execute("INSERT INTO T VALUE {'k': ?}", k)
				})
				if err != nil {
					t.Errorf("commit %s: %v", k, err)
					return
				}
				mu.Lock()
				acked = append(acked, k)
				mu.Unlock()
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	testenv.AwaitTrue(t, fmt.Sprint(target, " commits"), wait, func() bool { return count() >= target })

	// Everything acknowledged before the backup request starts must be in it.
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	bdir := filepath.Join(t.TempDir(), "backup")
	code, out, took := runBackup(t, bin, p.url, bdir, "AKID", "secret")
	if code != 0 {
		t.Fatalf("strand backup: exit %d\n%s", code, out)
	}
	during := count() - len(before)
	close(stop)
	wg.Wait()
	var size int64
	_ = filepath.Walk(bdir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			size += fi.Size()
		}
		return nil
	})
	orig := committedKeys(t, ctx, drv)
	var lastBefore uint64
	for _, k := range before {
		s, ok := orig[k]
		if !ok {
			t.Fatalf("acknowledged %s is not in the original", k)
		}
		lastBefore = max(lastBefore, s)
	}
	origTip := digestTip(t, ctx, qc, "bk")
	t.Logf("backup of %d blocks (%d commits acknowledged before it, %d during it): %d bytes in %s\n%s",
		origTip+1, len(before), during, size, took.Round(time.Millisecond), out)
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()

	// The copy verifies offline.
	if vout, err := exec.Command(bin, "verify", "--data-dir", bdir).CombinedOutput(); err != nil {
		t.Fatalf("strand verify of the backup: %v\n%s", err, vout)
	}

	// It serves, against a second Kinesis, so that what arrives there is
	// what the restored stream delivered.
	emu2 := kinesisemu.StartKinesalite(t, kinesisemu.Stream("bk", 2))
	if emu2.StreamARN("bk") != emu.StreamARN("bk") {
		t.Fatalf("the emulators' stream ARNs differ: %s, %s", emu.StreamARN("bk"), emu2.StreamARN("bk"))
	}
	r := startServe(t, bin, bdir, emu2.Endpoint)
	rqc, rsc := r.clients()
	rdrv, err := qldbdriver.New("bk", rsc, func(o *qldbdriver.DriverOptions) { o.LoggerVerbosity = qldbdriver.LogOff })
	if err != nil {
		t.Fatal(err)
	}
	restored := committedKeys(t, ctx, rdrv)
	for _, k := range before {
		if _, ok := restored[k]; !ok {
			t.Errorf("%s was acknowledged before the backup began but is not in it", k)
		}
	}
	if tip := digestTip(t, ctx, rqc, "bk"); tip < lastBefore {
		t.Fatalf("the restored digest covers blocks up to %d; commits acknowledged before the backup are in blocks up to %d", tip, lastBefore)
	}
	// New commits on the restored copy reach Kinesis, and the restored
	// stream left no gap after what the original had delivered.
	var afterTx []string
	for i := 0; i < 5; i++ {
		id, err := rdrv.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) {
			if _, err := tx.Execute("INSERT INTO T VALUE {'k': ?}", fmt.Sprintf("after-%d", i)); err != nil {
				return nil, err
			}
			return tx.ID(), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		afterTx = append(afterTx, id.(string))
	}
	tip := digestTip(t, ctx, rqc, "bk")
	s1, _ := blockSeqs(t, ctx, emu, "bk")
	testenv.Await(t, wait, func() error {
		s2, txs := blockSeqs(t, ctx, emu2, "bk")
		for _, id := range afterTx {
			if !txs[id] {
				return fmt.Errorf("transaction %s committed after the restore has not reached Kinesis", id)
			}
		}
		first := tip + 1
		for s := range s2 {
			first = min(first, s)
		}
		for s := uint64(0); s <= tip; s++ {
			if (s < first && !s1[s]) || (s >= first && !s2[s]) {
				return fmt.Errorf("block %d was delivered by neither the original nor the restored stream (restored from %d)", s, first)
			}
		}
		dup := 0
		for s := range s2 {
			if s1[s] {
				dup++
			}
		}
		t.Logf("restored stream resumed at block %d (the original had delivered %d blocks); %d blocks delivered again", first, len(s1), dup)
		return nil
	})
}

// testBackupAuthorization: with credentials configured only the access keys
// of --backup-access-key-id may take a backup; another principal gets
// AccessDeniedException (403) and nothing is written. A non-empty --to is
// refused before anything is asked. On PostgreSQL the answer is a clear
// refusal naming PostgreSQL's own tools.
func testBackupAuthorization(t *testing.T, bin string) {
	creds := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(creds, []byte("ADMIN admin-secret\nUSER user-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := startServe(t, bin, dir, "", "--credentials-file", creds, "--backup-access-key-id", "ADMIN")
	if os.Getenv(servertest.EnvStore) == "postgres" {
		// On PostgreSQL backups are the database's job: a clear refusal.
		code, out, _ := runBackup(t, bin, p.url, filepath.Join(t.TempDir(), "new"), "ADMIN", "admin-secret")
		if code != 1 || !strings.Contains(out, "ResourcePreconditionNotMetException (HTTP 412)") || !strings.Contains(out, "pg_dump") {
			t.Fatalf("backup of a PostgreSQL store: exit %d\n%s", code, out)
		}
		return
	}

	missing := filepath.Join(t.TempDir(), "new")
	empty := t.TempDir()
	for _, to := range []string{missing, empty} {
		code, out, _ := runBackup(t, bin, p.url, to, "USER", "user-secret")
		if code != 1 || !strings.Contains(out, "AccessDeniedException (HTTP 403)") {
			t.Fatalf("backup as USER into %s: exit %d\n%s", to, code, out)
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a refused backup left %s behind (%v)", missing, err)
	}
	if e, _ := os.ReadDir(empty); len(e) != 0 {
		t.Errorf("a refused backup wrote %d entries into %s", len(e), empty)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".backup-") {
			t.Errorf("a refused backup left %s in the data directory", e.Name())
		}
	}
	// A wrong secret is not a principal at all.
	if code, out, _ := runBackup(t, bin, p.url, missing, "ADMIN", "wrong"); code != 1 || !strings.Contains(out, "InvalidSignatureException") {
		t.Fatalf("backup with a wrong secret: exit %d\n%s", code, out)
	}
	// A non-empty directory is refused before the server is asked.
	if code, out, _ := runBackup(t, bin, p.url, dir, "ADMIN", "admin-secret"); code != 2 || !strings.Contains(out, "is not empty") {
		t.Fatalf("backup into a non-empty directory: exit %d\n%s", code, out)
	}
	code, out, _ := runBackup(t, bin, p.url, missing, "ADMIN", "admin-secret")
	if code != 0 {
		t.Fatalf("backup as ADMIN: exit %d\n%s", code, out)
	}
	if vout, err := exec.Command(bin, "verify", "--data-dir", missing).CombinedOutput(); err != nil {
		t.Fatalf("strand verify of the backup: %v\n%s", err, vout)
	}
}
