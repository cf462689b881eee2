package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/cluster"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/server/servertest"
	pgstore "github.com/strand-db/strand/internal/store/postgres"
	"github.com/strand-db/strand/internal/store/postgres/pgtest"
	"github.com/strand-db/strand/internal/stream/record"
	"github.com/strand-db/strand/internal/stream/streamtest"
	"github.com/strand-db/strand/internal/testenv/kinesisemu"
)

// ackLog records the transactions the servers acknowledged.
type ackLog struct {
	mu    sync.Mutex
	ids   map[string]bool
	times []time.Time
}

func (a *ackLog) add(id string) {
	a.mu.Lock()
	a.ids[id] = true
	a.times = append(a.times, time.Now())
	a.mu.Unlock()
}

// longestGap returns the longest time without any acknowledgement between
// from and the last acknowledgement: how long the service was interrupted.
func (a *ackLog) longestGap(from time.Time) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	ts := append([]time.Time(nil), a.times...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	prev, gap := from, time.Duration(0)
	for _, at := range ts {
		if at.Before(from) {
			continue
		}
		gap = max(gap, at.Sub(prev))
		prev = at
	}
	return gap
}

// firstAfter returns the first acknowledgement time after t, and how many
// came after it.
func (a *ackLog) firstAfter(t time.Time) (time.Time, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var first time.Time
	n := 0
	for _, at := range a.times {
		if at.After(t) {
			n++
			if first.IsZero() || at.Before(first) {
				first = at
			}
		}
	}
	return first, n
}

// owner reads which node holds the ledger's lease, straight from the
// database.
func owner(t *testing.T, db, ledgerName string) cluster.Lease {
	t.Helper()
	st, err := pgstore.Open(db, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cat, err := ledger.Open(st, ledger.Options{Region: "us-east-1", AccountID: "000000000000", MaxLedgers: 100, Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := cat.Describe(ledgerName)
	if err != nil {
		t.Fatal(err)
	}
	raw, ok, err := st.Get(journal.LedgerLayout(meta.ID).Lease)
	if err != nil || !ok {
		t.Fatalf("lease of %s: ok=%v err=%v", ledgerName, ok, err)
	}
	var l cluster.Lease
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestClusterFailoverSIGKILL runs three strand processes on one PostgreSQL
// database, with the Go driver committing through all three and a journal
// stream delivering to Kinesis, then kills the ledger's owner with SIGKILL.
// Another node takes the ledger once the lease expires: no acknowledged
// commit is lost, the chain audits clean, and the stream goes on from the
// new owner with no gap. The time from the kill to the first commit
// acknowledged afterwards is logged (the failover time).
func TestClusterFailoverSIGKILL(t *testing.T) {
	db := pgtest.NewDatabase(t)
	bin := buildStrand(t)
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("failover", 2))
	ctx := context.Background()
	const ttl = "1s"

	procs := make([]*strandProc, 3)
	for i := range procs {
		procs[i] = startServe(t, bin, t.TempDir(), emu.Endpoint, "--store", db, "--lease-ttl", ttl)
	}
	qc, _ := procs[0].clients()
	if _, err := qc.CreateLedger(ctx, &qldb.CreateLedgerInput{Name: aws.String("failover"), PermissionsMode: types.PermissionsModeAllowAll,
		DeletionProtection: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	newDriver := func(p *strandProc) *qldbdriver.QLDBDriver {
		// The SDK's standard retryer, as an application has it: it retries
		// the 503 of a StartSession while the ledger changes hands.
		cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
			HTTPClient: servertest.HTTPClient(nil),
			Retryer: func() aws.Retryer {
				return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 20; o.MaxBackoff = 300 * time.Millisecond })
			}}
		sc := qldbsession.NewFromConfig(cfg, func(o *qldbsession.Options) { o.BaseEndpoint = aws.String(p.url) })
		drv, err := qldbdriver.New("failover", sc, func(o *qldbdriver.DriverOptions) {
			o.LoggerVerbosity = qldbdriver.LogOff
			o.MaxConcurrentTransactions = 4
			o.RetryPolicy = qldbdriver.RetryPolicy{MaxRetryLimit: 30,
				Backoff: qldbdriver.ExponentialBackoffStrategy{SleepBase: 20 * time.Millisecond, SleepCap: 300 * time.Millisecond}}
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { drv.Shutdown(ctx) })
		return drv
	}
	acks := &ackLog{ids: map[string]bool{}}
	commit := func(d *qldbdriver.QLDBDriver, stmt string, args ...any) error {
		id, err := d.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) {
			if _, err := tx.Execute(stmt, args...); err != nil {
				return nil, err
			}
			return tx.ID(), nil
		})
		if err == nil {
			acks.add(id.(string))
		}
		return err
	}
	if err := commit(newDriver(procs[1]), "CREATE TABLE T"); err != nil {
		t.Fatal(err)
	}
	// The stream is created through a node that may not own the ledger.
	qc2, _ := procs[2].clients()
	if _, err := qc2.StreamJournalToKinesis(ctx, &qldb.StreamJournalToKinesisInput{LedgerName: aws.String("failover"),
		RoleArn: aws.String("arn:aws:iam::000000000000:role/r"), StreamName: aws.String("failover"), InclusiveStartTime: aws.Time(time.Now().Add(-time.Hour)),
		KinesisConfiguration: &types.KinesisConfiguration{StreamArn: aws.String(emu.StreamARN("failover"))}}); err != nil {
		t.Fatal(err)
	}

	lease := owner(t, db, "failover")
	victim := -1
	for i, p := range procs {
		if p.url == lease.URL {
			victim = i
		}
	}
	if victim < 0 {
		t.Fatalf("the owner %s is none of the nodes", lease.URL)
	}

	// Load through all three nodes until the kill, and through the
	// survivors after it.
	var killedAt time.Time
	var failedDuringFailover int
	var killMu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, p := range procs {
		drv := newDriver(p)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				err := commit(drv, "INSERT INTO T ?", map[string]any{"node": i, "n": n})
				killMu.Lock()
				killed := !killedAt.IsZero()
				killMu.Unlock()
				if err != nil && !(killed && i == victim) {
					if killed {
						// A survivor's commit may fail while the ledger
						// changes hands past the driver's retries; it was
						// not acknowledged, so nothing is owed.
						killMu.Lock()
						since := time.Since(killedAt).Round(time.Millisecond)
						failedDuringFailover++
						killMu.Unlock()
						t.Logf("node %d commit %d, %v after the kill: %v", i, n, since, err)
						continue
					}
					t.Errorf("node %d commit %d: %v", i, n, err)
					return
				}
				if err != nil {
					return // the killed node's own driver
				}
			}
		}()
	}
	waitFor(t, 30*time.Second, func() bool { _, n := acks.firstAfter(time.Time{}); return n >= 40 })
	killMu.Lock()
	killedAt = time.Now()
	killMu.Unlock()
	if err := procs[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = procs[victim].cmd.Wait()
	waitFor(t, 60*time.Second, func() bool { _, n := acks.firstAfter(killedAt); return n >= 30 })
	close(stop)
	wg.Wait()
	_, after := acks.firstAfter(killedAt)
	t.Logf("failover: commits stopped for %v around the SIGKILL of the owner (lease TTL %s); %d commits acknowledged after the kill, %d gave up during the failover",
		acks.longestGap(killedAt).Round(time.Millisecond), ttl, after, failedDuringFailover)
	if newOwner := owner(t, db, "failover"); newOwner.URL == lease.URL || newOwner.Token <= lease.Token {
		t.Fatalf("lease after the kill: %+v; before: %+v", newOwner, lease)
	}

	// Every acknowledged transaction reaches Kinesis, with no gap.
	acks.mu.Lock()
	acked := make(map[string]bool, len(acks.ids))
	for id := range acks.ids {
		acked[id] = true
	}
	acks.mu.Unlock()
	waitFor(t, 90*time.Second, func() bool {
		col, err := streamtest.Read(ctx, emu, "failover")
		if err != nil {
			t.Fatal(err)
		}
		got, seqs, maxSeq := map[string]bool{}, map[uint64]bool{}, uint64(0)
		for _, d := range col.Records {
			if d.Record.Type == record.TypeBlockSummary {
				got[d.Record.Block.TransactionID] = true
				seqs[d.Record.Block.Address.SequenceNo] = true
				maxSeq = max(maxSeq, d.Record.Block.Address.SequenceNo)
			}
		}
		for id := range acked {
			if !got[id] {
				return false
			}
		}
		for s := uint64(0); s <= maxSeq; s++ {
			if !seqs[s] {
				t.Logf("gap at block %d (of %d) so far", s, maxSeq)
				return false
			}
		}
		return true
	})

	// Offline audit of the whole chain.
	for i, p := range procs {
		if i != victim {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			_ = p.cmd.Wait()
		}
	}
	rep := servertest.AuditDatabase(t, db, "after failover")
	t.Logf("audit: %d blocks, %d revisions, all hashes and the chain verify", rep.Ledgers[0].Blocks, rep.Ledgers[0].Revisions)
}

// waitFor polls cond every 50 ms until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(errors.New("condition not met in time"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClusterPausedOwnerRejoins pauses the owner of a ledger (SIGSTOP) past
// its lease while another node takes the ledger and commits, then wakes it
// (SIGCONT) and commits through it again: the woken node no longer holds
// the ledger (by its own clock it expired, and its renewal is refused by the
// fencing token), so it forwards instead of appending, and the journal stays
// one chain that audits clean. TestFormerOwnerCannotAppend (package txn)
// covers a former owner whose clock still believes in its lease.
func TestClusterPausedOwnerRejoins(t *testing.T) {
	db := pgtest.NewDatabase(t)
	bin := buildStrand(t)
	emu := kinesisemu.StartKinesalite(t)
	ctx := context.Background()
	procs := []*strandProc{
		startServe(t, bin, t.TempDir(), emu.Endpoint, "--store", db, "--lease-ttl", "1s"),
		startServe(t, bin, t.TempDir(), emu.Endpoint, "--store", db, "--lease-ttl", "1s"),
	}
	qc, sc := procs[0].clients()
	if _, err := qc.CreateLedger(ctx, &qldb.CreateLedgerInput{Name: aws.String("paused"), PermissionsMode: types.PermissionsModeAllowAll}); err != nil {
		t.Fatal(err)
	}
	drv := func(sc *qldbsession.Client) *qldbdriver.QLDBDriver {
		d, err := qldbdriver.New("paused", sc, func(o *qldbdriver.DriverOptions) {
			o.LoggerVerbosity = qldbdriver.LogOff
			o.RetryPolicy = qldbdriver.RetryPolicy{MaxRetryLimit: 10,
				Backoff: qldbdriver.ExponentialBackoffStrategy{SleepBase: 20 * time.Millisecond, SleepCap: 300 * time.Millisecond}}
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Shutdown(ctx) })
		return d
	}
	exec := func(d *qldbdriver.QLDBDriver, stmt string) {
		t.Helper()
		if _, err := d.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) { return tx.Execute(stmt) }); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	d0 := drv(sc)
	exec(d0, "CREATE TABLE T")
	before := owner(t, db, "paused")
	paused, other := procs[0], procs[1]
	if before.URL == procs[1].url {
		paused, other = procs[1], procs[0]
	}
	if err := paused.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	_, osc := other.clients()
	d1 := drv(osc)
	for i := 0; i < 5; i++ {
		exec(d1, fmt.Sprintf("INSERT INTO T VALUE {'while_paused': %d}", i))
	}
	after := owner(t, db, "paused")
	if after.URL != other.url || after.Token <= before.Token {
		t.Fatalf("lease while the owner was paused: %+v (before: %+v)", after, before)
	}
	if err := paused.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	_, psc := paused.clients()
	dp := drv(psc)
	for i := 0; i < 5; i++ {
		exec(dp, fmt.Sprintf("INSERT INTO T VALUE {'woken': %d}", i))
		exec(d1, fmt.Sprintf("INSERT INTO T VALUE {'other': %d}", i))
	}
	if now := owner(t, db, "paused"); now.Token != after.Token {
		t.Fatalf("the woken node took the ledger back: %+v (it was %+v)", now, after)
	}
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		_ = p.cmd.Wait()
	}
	if rep := servertest.AuditDatabase(t, db, "after the pause"); rep.Ledgers[0].Revisions != 15 {
		t.Fatalf("audit: %d revisions, want 15", rep.Ledgers[0].Revisions)
	}
}
