package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/stream/record"
	"github.com/strand-db/strand/internal/stream/streamtest"
	"github.com/strand-db/strand/internal/testenv/kinesisemu"
)

// crashAck is one insert the server acknowledged.
type crashAck struct {
	txID, docID string
}

// crashAcks collects acknowledged inserts from many clients.
type crashAcks struct {
	mu   sync.Mutex
	acks []crashAck
	errs int // commits that failed (not acknowledged, nothing owed)
}

func (a *crashAcks) add(ack crashAck) {
	a.mu.Lock()
	a.acks = append(a.acks, ack)
	a.mu.Unlock()
}

func (a *crashAcks) failed() {
	a.mu.Lock()
	a.errs++
	a.mu.Unlock()
}

func (a *crashAcks) snapshot() []crashAck {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]crashAck(nil), a.acks...)
}

// crashDriver returns a driver on the server at url with up to conc
// concurrent transactions and few retries, so that a client whose server
// was killed gives up quickly (what it did not get acknowledged is not
// owed).
func crashDriver(t *testing.T, url, ledgerName string, conc int) *qldbdriver.QLDBDriver {
	t.Helper()
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = 4 * conc
		tr.MaxIdleConnsPerHost = 4 * conc
	}).WithTimeout(30 * time.Second)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		Retryer: func() aws.Retryer { return aws.NopRetryer{} }, HTTPClient: servertest.HTTPClient(hc)}
	sc := qldbsession.NewFromConfig(cfg, func(o *qldbsession.Options) { o.BaseEndpoint = aws.String(url) })
	drv, err := qldbdriver.New(ledgerName, sc, func(o *qldbdriver.DriverOptions) {
		o.LoggerVerbosity = qldbdriver.LogOff
		o.MaxConcurrentTransactions = conc
		o.RetryPolicy = qldbdriver.RetryPolicy{MaxRetryLimit: 4,
			Backoff: qldbdriver.ExponentialBackoffStrategy{SleepBase: 10 * time.Millisecond, SleepCap: 200 * time.Millisecond}}
	})
	if err != nil {
		t.Fatal(err)
	}
	return drv
}

// TestCrashSuite is the crash suite of issue 12: concurrent clients of the
// official QLDB Go driver commit inserts (every acknowledged transaction id
// and document id is recorded) while two journal streams (one aggregated,
// one not) deliver to kinesalite; `strand serve` is killed with SIGKILL at
// random moments K times and restarted on the same data directory each
// time. After every kill the store is checked offline (`strand verify
// --data-dir`, or package audit on the PostgreSQL database), and after
// every restart every acknowledged insert is read back with ordinary driver
// paging (a SELECT over the whole table), and then each stream, read as a
// consumer reads it (crashStreams), must catch up within a bounded wait
// (60 s; 180 s in the long form) to every block committed up to the last
// block acknowledged before the kill, with no gap in sequence numbers and
// a REVISION_DETAILS for every acknowledged document; the duplicates that
// restart caused are counted. At the end each stream must hold every block
// up to a final commit and every acknowledged revision. The figures are
// logged in one line:
//
//	crash-suite: store=pebble clients=8 kills=10 acked=... lost=0 stream_gaps=0 stream_checks=10 duplicates=... duplicates_per_kill=... max_duplicates_one_kill=...
//
// Duplicates are records delivered again after a restart (at-least-once:
// a stream resumes from its last checkpoint), summed over both streams,
// BLOCK_SUMMARY and REVISION_DETAILS records alike. Every stream check
// also shows on the records it read that it reports a removed block (block
// 1, the last acknowledged one) or a removed revision.
//
// The store is the one of the test pass: the embedded store, or PostgreSQL
// under STRAND_TEST_STORE=postgres (the binary gets the URL of a fresh
// pgtest database as STRAND_STORE, i.e. --store). CI form: 8 clients, 10
// kills on the embedded store, 5 on PostgreSQL, runs of 50 ms to 1 s
// between kills. Long form, STRAND_LONG=1: 64 clients, 50 kills (or
// STRAND_CRASH_KILLS), runs of 0.2 to 3 s:
//
//	STRAND_LONG=1 GO_TEST_FLAGS='-run TestCrashSuite -v -timeout 60m' scripts/test.sh ./cmd/strand
//	STRAND_TEST_STORE=postgres STRAND_LONG=1 GO_TEST_FLAGS='-run TestCrashSuite -v -timeout 60m' scripts/test.sh ./cmd/strand
func TestCrashSuite(t *testing.T) {
	clients, kills := 8, 10
	minRun, maxRun := 50*time.Millisecond, time.Second
	pg := servertest.OnPostgres()
	if pg {
		kills = 5
	}
	if os.Getenv("STRAND_LONG") == "1" {
		clients, kills = 64, 50
		minRun, maxRun = 200*time.Millisecond, 3*time.Second
	}
	if v := os.Getenv("STRAND_CRASH_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("STRAND_CRASH_KILLS=%q: want a positive number", v)
		}
		kills = n
	}
	began := time.Now()
	bin := buildStrand(t)
	dir := t.TempDir()
	storeURL := servertest.StoreFor(t, dir) // "" for the embedded store; startServe passes it as STRAND_STORE
	storeName := "pebble"
	if storeURL != "" {
		storeName = "postgres"
	}
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("crash-agg", 2), kinesisemu.Stream("crash-plain", 2))
	ctx := context.Background()
	seed := time.Now().UnixNano()
	rnd := rand.New(rand.NewSource(seed))
	t.Logf("crash-suite: seed %d", seed)

	var serveArgs []string
	if pg {
		// A restarted node waits for the killed one's lease to expire
		// before it takes the ledger: keep that short.
		serveArgs = []string{"--lease-ttl", "1s"}
	}
	p := startServe(t, bin, dir, emu.Endpoint, serveArgs...)
	qc, _ := p.clients()
	if _, err := qc.CreateLedger(ctx, &qldb.CreateLedgerInput{Name: aws.String("crash"), PermissionsMode: types.PermissionsModeAllowAll}); err != nil {
		t.Fatal(err)
	}
	acks := &crashAcks{}
	setup := crashDriver(t, p.url, "crash", 1)
	if _, err := setup.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) { return tx.Execute("CREATE TABLE T") }); err != nil {
		t.Fatal(err)
	}
	setup.Shutdown(ctx)
	for _, s := range []struct {
		name      string
		aggregate bool
	}{{"crash-agg", true}, {"crash-plain", false}} {
		if _, err := qc.StreamJournalToKinesis(ctx, &qldb.StreamJournalToKinesisInput{LedgerName: aws.String("crash"),
			RoleArn: aws.String("arn:aws:iam::000000000000:role/r"), StreamName: aws.String(s.name), InclusiveStartTime: aws.Time(time.Now().Add(-time.Hour)),
			KinesisConfiguration: &types.KinesisConfiguration{StreamArn: aws.String(emu.StreamARN(s.name)), AggregationEnabled: aws.Bool(s.aggregate)}}); err != nil {
			t.Fatal(err)
		}
	}

	streams := &crashStreams{ctx: ctx, emu: emu, names: []string{"crash-agg", "crash-plain"}, wait: 60 * time.Second}
	if os.Getenv("STRAND_LONG") == "1" {
		streams.wait = 180 * time.Second
	}
	t.Logf("crash-suite: build and set-up took %v", time.Since(began).Round(time.Millisecond))
	for k := 1; k <= kills; k++ {
		// Load until a random moment, then SIGKILL.
		drv := crashDriver(t, p.url, "crash", clients)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					res, err := drv.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) {
						rows, err := servertest.Rows(tx, "INSERT INTO T ?", map[string]any{"k": k, "c": c, "n": n})
						if err != nil {
							return nil, err
						}
						if len(rows) != 1 {
							return nil, fmt.Errorf("INSERT returned %d rows", len(rows))
						}
						return crashAck{txID: tx.ID(), docID: rows[0].Get("documentId").Text}, nil
					})
					if err != nil {
						acks.failed()
						time.Sleep(20 * time.Millisecond) // the server is gone: do not spin
						continue
					}
					acks.add(res.(crashAck))
				}
			}()
		}
		run := minRun + time.Duration(rnd.Int63n(int64(maxRun-minRun)))
		time.Sleep(run)
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = p.cmd.Wait()
		close(stop)
		wg.Wait()
		drv.Shutdown(ctx)
		stopped := time.Since(began)

		// The crashed store verifies offline, then serves again.
		t0 := time.Now()
		crashVerify(t, bin, dir, storeURL, fmt.Sprintf("after kill %d", k))
		t1 := time.Now()
		p = startServe(t, bin, dir, emu.Endpoint, serveArgs...)
		t2 := time.Now()
		acked := acks.snapshot()
		lost := crashReadBack(t, p.url, acked)
		reportLost(t, fmt.Sprintf("after restart %d", k), lost)
		t3 := time.Now()
		// Each stream catches up, with no gap, to every block committed up
		// to the tip acknowledged before the kill.
		killDups := streams.caughtUp(t, fmt.Sprintf("after restart %d", k), acked)
		t.Logf("crash-suite: kill %d after %v of load (clients stopped at %v): %d acknowledged so far; verify %v, restart %v, read back %v, streams caught up in %v with %d duplicates",
			k, run.Round(time.Millisecond), stopped.Round(time.Millisecond), len(acked), t1.Sub(t0).Round(time.Millisecond), t2.Sub(t1).Round(time.Millisecond), t3.Sub(t2).Round(time.Millisecond), time.Since(t3).Round(time.Millisecond), killDups)
	}

	// A last acknowledged commit: every block up to it must be streamed.
	final := crashDriver(t, p.url, "crash", 1)
	res, err := final.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) {
		rows, err := servertest.Rows(tx, "INSERT INTO T ?", map[string]any{"final": true})
		if err != nil {
			return nil, err
		}
		return crashAck{txID: tx.ID(), docID: rows[0].Get("documentId").Text}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	acks.add(res.(crashAck))
	final.Shutdown(ctx)
	all := acks.snapshot()
	lost := crashReadBack(t, p.url, all)
	// The checks can fail: an acknowledgement the table lacks is reported.
	phantom := crashAck{txID: "NoSuchTransaction00000", docID: "NoSuchDocument00000000"}
	if l := crashReadBack(t, p.url, append(all[:len(all):len(all)], phantom)); len(l) != len(lost)+1 {
		t.Fatalf("self-check: the read-back did not report an acknowledged insert the table lacks (%d lost)", len(l))
	}

	streamStart := time.Now()
	gaps, dups := 0, 0
	perStream := ""
	for _, name := range []string{"crash-agg", "crash-plain"} {
		var st crashStreamCheck
		deadline := time.Now().Add(120 * time.Second)
		for {
			col, err := streamtest.Read(ctx, emu, name)
			if err != nil {
				t.Fatal(err)
			}
			st = checkCrashStream(col, all)
			if st.gaps() == 0 || time.Now().After(deadline) {
				crashSelfCheck(t, name, col, all)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		gaps += st.gaps()
		dups += st.dupBlocks + st.dupRevisions
		perStream += fmt.Sprintf(" %s:blocks=%d,revisions=%d,dup_blocks=%d,dup_revisions=%d,missing_blocks=%d,missing_revisions=%d",
			name, st.blocks, st.revisions, st.dupBlocks, st.dupRevisions, st.missingBlocks, st.missingRevisions)
		if st.err != nil {
			t.Errorf("stream %s: %v", name, st.err)
		}
	}
	t.Logf("crash-suite: streams checked in %v", time.Since(streamStart).Round(time.Millisecond))
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Wait()
	blocks := crashVerify(t, bin, dir, storeURL, "at the end")
	acks.mu.Lock()
	failed := acks.errs
	acks.mu.Unlock()
	t.Logf("crash-suite: store=%s clients=%d kills=%d acked=%d failed_unacked=%d lost=%d stream_gaps=%d stream_checks=%d duplicates=%d duplicates_per_kill=%.1f max_duplicates_one_kill=%d blocks=%s%s",
		storeName, clients, kills, len(all), failed, len(lost), gaps, streams.checks, dups, float64(dups)/float64(kills), streams.maxKillDups, blocks, perStream)
	reportLost(t, "at the end", lost)
	if gaps > 0 {
		t.Fatalf("crash-suite: %d stream gaps", gaps)
	}
}

// crashVerify checks the stopped (or killed) server's store offline: the
// binary's `strand verify --data-dir` on the embedded store, package audit
// on a PostgreSQL database. It returns the number of blocks checked, as
// text.
func crashVerify(t *testing.T, bin, dir, storeURL, when string) string {
	t.Helper()
	if storeURL != "" {
		rep := servertest.AuditDatabase(t, storeURL, when)
		return strconv.FormatUint(rep.Ledgers[0].Blocks, 10)
	}
	cmd := exec.Command(bin, "verify", "--data-dir", dir)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("strand verify %s: %v\n%s%s", when, err, out.String(), errOut.String())
	}
	// "ledger crash: OK: 267 blocks, ...; digest ...": the block count.
	var blocks string
	if _, err := fmt.Sscanf(out.String(), "ledger crash: OK: %s blocks", &blocks); err != nil {
		t.Fatalf("strand verify %s printed %q", when, out.String())
	}
	return strings.TrimSuffix(blocks, ",")
}

// crashReadBack reads the whole table with ordinary driver paging and
// returns the acknowledged inserts it lacks.
func crashReadBack(t *testing.T, url string, acked []crashAck) []crashAck {
	t.Helper()
	drv := crashDriver(t, url, "crash", 1)
	defer drv.Shutdown(context.Background())
	rows, err := servertest.Query(drv, "SELECT id FROM T AS d BY id")
	if err != nil {
		t.Fatalf("read back: %v", err)
	}
	have := make(map[string]bool, len(rows))
	for _, r := range rows {
		have[r.Get("id").Text] = true
	}
	var lost []crashAck
	for _, a := range acked {
		if !have[a.docID] {
			lost = append(lost, a)
		}
	}
	return lost
}

// reportLost fails the test for lost acknowledged inserts, naming the
// first few.
func reportLost(t *testing.T, when string, lost []crashAck) {
	t.Helper()
	for i, a := range lost {
		if i == 10 {
			break
		}
		t.Errorf("%s: acknowledged insert lost: document %s of transaction %s", when, a.docID, a.txID)
	}
	if len(lost) > 0 {
		t.Fatalf("crash-suite: %s: %d acknowledged inserts lost", when, len(lost))
	}
}

// crashStreamCheck is what one stream delivered, against what was
// acknowledged.
type crashStreamCheck struct {
	blocks, revisions         int // distinct
	dupBlocks, dupRevisions   int // delivered more than once
	missingBlocks             int // sequence numbers absent up to the last acknowledged block
	missingRevisions          int // acknowledged documents with no REVISION_DETAILS
	err                       error
	lastAckedSeq, maxDelivSeq uint64
}

func (c crashStreamCheck) gaps() int { return c.missingBlocks + c.missingRevisions }

// checkCrashStream compares a stream's records with the acknowledged
// inserts: every block from 0 to the last acknowledged one, and a
// REVISION_DETAILS for every acknowledged document.
func checkCrashStream(col *streamtest.Collection, acked []crashAck) crashStreamCheck {
	var c crashStreamCheck
	seqs := map[uint64]bool{}
	seqOfTx := map[string]uint64{}
	revs := map[string]bool{} // document id + version
	docs := map[string]bool{}
	for _, d := range col.Records {
		switch d.Record.Type {
		case record.TypeBlockSummary:
			s := d.Record.Block.Address.SequenceNo
			if seqs[s] {
				c.dupBlocks++
			}
			seqs[s] = true
			seqOfTx[d.Record.Block.TransactionID] = s
			c.maxDelivSeq = max(c.maxDelivSeq, s)
		case record.TypeRevisionDetails:
			m := d.Record.Revision.Revision.Metadata
			key := fmt.Sprintf("%s/%d", m.ID, m.Version)
			if revs[key] {
				c.dupRevisions++
			}
			revs[key] = true
			docs[m.ID] = true
		}
	}
	c.blocks, c.revisions = len(seqs), len(revs)
	for _, a := range acked {
		s, ok := seqOfTx[a.txID]
		if !ok {
			c.missingBlocks++ // counted below too if inside the range
			continue
		}
		c.lastAckedSeq = max(c.lastAckedSeq, s)
		if !docs[a.docID] {
			c.missingRevisions++
		}
	}
	for s := uint64(0); s <= c.lastAckedSeq; s++ {
		if !seqs[s] {
			c.missingBlocks++
		}
	}
	if c.gaps() == 0 {
		// Every delivered block has the details of each of its revisions.
		if _, err := col.Blocks(); err != nil {
			c.err = err
		}
	}
	return c
}

// crashSelfCheck shows that checkCrashStream can fail: without the
// BLOCK_SUMMARY of block 1 or of the last acknowledged transaction, or
// without the REVISION_DETAILS of the first acknowledged document, it
// reports a gap.
func crashSelfCheck(t *testing.T, name string, col *streamtest.Collection, acked []crashAck) {
	t.Helper()
	without := func(drop func(record.Record) bool) *streamtest.Collection {
		c := *col
		c.Records = nil
		for _, d := range col.Records {
			if !drop(*d.Record) {
				c.Records = append(c.Records, d)
			}
		}
		return &c
	}
	noBlock := without(func(r record.Record) bool {
		return r.Type == record.TypeBlockSummary && r.Block.Address.SequenceNo == 1
	})
	noRevision := without(func(r record.Record) bool {
		return r.Type == record.TypeRevisionDetails && r.Revision.Revision.Metadata.ID == acked[0].docID
	})
	last := acked[len(acked)-1]
	noTip := without(func(r record.Record) bool {
		return r.Type == record.TypeBlockSummary && r.Block.TransactionID == last.txID
	})
	if c := checkCrashStream(noTip, acked); c.missingBlocks == 0 {
		t.Fatalf("self-check: stream %s without the block of the last acknowledged transaction %s shows no gap", name, last.txID)
	}
	if c := checkCrashStream(noBlock, acked); c.missingBlocks == 0 {
		t.Fatalf("self-check: stream %s without block 1 shows no gap", name)
	}
	if c := checkCrashStream(noRevision, acked); c.missingRevisions == 0 {
		t.Fatalf("self-check: stream %s without the revisions of %s shows no gap", name, acked[0].docID)
	}
}
