package e2e

import (
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/stream/record"
	"github.com/strand-db/strand/internal/stream/streamtest"
	"github.com/strand-db/strand/internal/testenv"
	"github.com/strand-db/strand/internal/testenv/faultproxy"
	"github.com/strand-db/strand/internal/testenv/kinesisemu"
)

// awaitStatus polls DescribeJournalKinesisStream until the stream has the
// status (and error cause, when given).
func awaitStatus(t *testing.T, c *qldb.Client, ledgerName, id string, status types.StreamStatus, cause types.ErrorCause) {
	t.Helper()
	testenv.Await(t, 30*time.Second, func() error {
		d, err := c.DescribeJournalKinesisStream(bg, &qldb.DescribeJournalKinesisStreamInput{LedgerName: aws.String(ledgerName), StreamId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		if d.Stream.Status == status && (cause == "" || d.Stream.ErrorCause == cause) {
			return nil
		}
		return fmt.Errorf("stream %s is %s (%s), want %s (%s)", id, d.Stream.Status, d.Stream.ErrorCause, status, cause)
	})
}

func fastRetries(c *config.Config) { c.StreamRetryMax = 200 * time.Millisecond }

func TestStreamSurvivesRestart(t *testing.T) {
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("restart", 2))
	n := startWithKinesis(t, emu, fastRetries)
	n.CreateLedger("restart")
	drv := n.Driver("restart")
	workload(t, drv, "Before", 10)
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	id := startStream(t, c, "restart", "survivor", emu.StreamARN("restart"), time.Now().Add(-time.Hour), nil, nil)
	for i := 0; i < 20; i++ { // commits racing the worker while we stop
		servertest.Commit(t, drv, fmt.Sprintf("INSERT INTO Before VALUE {'k': %d}", 1000+i))
	}
	drv.Shutdown(bg)
	n.Stop()

	n2 := servertest.StartConfig(t, n.Config)
	drv2 := n2.Driver("restart")
	workload(t, drv2, "After", 5)
	l := n2.LedgerEngine("restart")
	upTo := l.Next()
	col := awaitBlocks(t, emu, "restart", upTo, false)
	verifyStreamedJournal(t, n2, "restart", col, 0, upTo)
	awaitStatus(t, n2.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey), "restart", id, types.StreamStatusActive, "")
}

func TestStreamImpairedByMissingDestinationRecovers(t *testing.T) {
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("fragile", 1))
	n := startWithKinesis(t, emu, fastRetries)
	n.CreateLedger("fragile")
	drv := n.Driver("fragile")
	workload(t, drv, "T", 3)
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	id := startStream(t, c, "fragile", "fragile", emu.StreamARN("fragile"), time.Now().Add(-time.Hour), nil, nil)
	l := n.LedgerEngine("fragile")
	awaitBlocks(t, emu, "fragile", l.Next(), false)

	if err := emu.DeleteStream(bg, "fragile"); err != nil {
		t.Fatal(err)
	}
	servertest.Commit(t, drv, "INSERT INTO T VALUE {'k': 'during outage'}")
	awaitStatus(t, c, "fragile", id, types.StreamStatusImpaired, types.ErrorCauseKinesisStreamNotFound)
	servertest.Commit(t, drv, "INSERT INTO T VALUE {'k': 'still out'}")

	if err := emu.CreateStream(bg, "fragile", 1); err != nil {
		t.Fatal(err)
	}
	awaitStatus(t, c, "fragile", id, types.StreamStatusActive, "")
	// Nothing was lost: the blocks committed during the outage (and the
	// unacknowledged tail before it) arrive in the new stream.
	upTo := l.Next()
	seen := map[uint64]bool{}
	testenv.Await(t, 30*time.Second, func() error {
		for _, d := range awaitBlocks(t, emu, "fragile", 0, false).Records {
			if d.Record.Block != nil {
				seen[d.Record.Block.Address.SequenceNo] = true
			}
		}
		if !seen[upTo-1] || !seen[upTo-2] {
			return fmt.Errorf("blocks %d and %d committed during the outage have not arrived", upTo-2, upTo-1)
		}
		return nil
	})
}

func TestStreamImpairedByDeniedCalls(t *testing.T) {
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("denied", 1))
	proxy := faultproxy.Start(t, emu.Endpoint)
	n := servertest.Start(t, func(c *config.Config) {
		fastRetries(c)
		c.KinesisEndpoint = proxy.URL
		c.KinesisCredentials = startWithKinesisCreds()
	})
	n.CreateLedger("denied")
	drv := n.Driver("denied")
	workload(t, drv, "T", 2)
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	id := startStream(t, c, "denied", "denied", emu.StreamARN("denied"), time.Now().Add(-time.Hour), nil, nil)
	l := n.LedgerEngine("denied")
	awaitBlocks(t, emu, "denied", l.Next(), false)

	proxy.SetMode(faultproxy.FailAll(400, "AccessDeniedException", "User: arn:aws:sts::000000000000:assumed-role/qldb-stream is not authorized to perform: kinesis:PutRecords"))
	servertest.Commit(t, drv, "INSERT INTO T VALUE {'k': 'denied'}")
	awaitStatus(t, c, "denied", id, types.StreamStatusImpaired, types.ErrorCauseIamPermissionRevoked)
	proxy.SetMode(faultproxy.PassThrough())
	awaitStatus(t, c, "denied", id, types.StreamStatusActive, "")
	col := awaitBlocks(t, emu, "denied", l.Next(), false)
	verifyStreamedJournal(t, n, "denied", col, 0, l.Next())
}

func TestStreamRetriesThrottlingWithoutLoss(t *testing.T) {
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("throttled", 2))
	proxy := faultproxy.Start(t, emu.Endpoint)
	n := servertest.Start(t, func(c *config.Config) {
		fastRetries(c)
		c.KinesisEndpoint = proxy.URL
		c.KinesisCredentials = startWithKinesisCreds()
		c.MetricsListen = "127.0.0.1:0"
	})
	n.CreateLedger("throttled")
	drv := n.Driver("throttled")
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	// Every 2nd PutRecords is refused whole, and of the others every 3rd
	// entry fails with ProvisionedThroughputExceededException.
	proxy.SetMode(faultproxy.ThrottleEvery(2).ForOperations("PutRecords"))
	startStream(t, c, "throttled", "throttled", emu.StreamARN("throttled"), time.Now().Add(-time.Hour), nil, aws.Bool(false))
	workload(t, drv, "A", 10)
	// The worker may have carried all of A in one call (it gathers what is
	// committed while a put runs): commit more until a call was refused.
	for i := 0; proxy.Stats().Failed == 0; i++ {
		if i == 200 {
			t.Fatalf("no PutRecords call refused: %+v", proxy.Stats())
		}
		servertest.Commit(t, drv, fmt.Sprintf("INSERT INTO A VALUE {'k': %d}", 100+i))
		time.Sleep(10 * time.Millisecond)
	}
	proxy.SetMode(faultproxy.FailEveryNthEntry(3).ForOperations("PutRecords"))
	workload(t, drv, "B", 10)
	l := n.LedgerEngine("throttled")
	col := awaitBlocks(t, emu, "throttled", l.Next(), false)
	verifyStreamedJournal(t, n, "throttled", col, 0, l.Next())
	st := proxy.Stats()
	if st.Failed == 0 || st.FailedEntries == 0 {
		t.Fatalf("the proxy injected nothing: %+v", st)
	}
	// Only failed entries are re-sent: user records arrive at most a few
	// times, never once per request.
	counts := map[string]int{}
	for _, d := range col.Records {
		counts[d.PartitionKey]++
	}
	for pk, n := range counts {
		if n > 1 {
			t.Errorf("record %s arrived %d times although only failed entries should be retried", pk, n)
		}
	}
	resp, err := http.Get(n.MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, series := range []string{"strand_stream_throttles_total", "strand_stream_retries_total", "strand_stream_user_records_put_total", "strand_stream_lag_blocks", `status="ACTIVE"`} {
		if !strings.Contains(string(body), series) {
			t.Errorf("metrics lack %s", series)
		}
	}
}

func TestStreamFailsAfterImpairedTimeout(t *testing.T) {
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("doomed", 1))
	n := startWithKinesis(t, emu, func(c *config.Config) {
		fastRetries(c)
		c.StreamImpairedTimeout = time.Second
	})
	n.CreateLedger("doomed")
	drv := n.Driver("doomed")
	workload(t, drv, "T", 1)
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	id := startStream(t, c, "doomed", "doomed", emu.StreamARN("doomed"), time.Now().Add(-time.Hour), nil, nil)
	l := n.LedgerEngine("doomed")
	awaitBlocks(t, emu, "doomed", l.Next(), false)
	if err := emu.DeleteStream(bg, "doomed"); err != nil {
		t.Fatal(err)
	}
	servertest.Commit(t, drv, "INSERT INTO T VALUE {'k': 'lost destination'}")
	awaitStatus(t, c, "doomed", id, types.StreamStatusImpaired, types.ErrorCauseKinesisStreamNotFound)
	awaitStatus(t, c, "doomed", id, types.StreamStatusFailed, types.ErrorCauseKinesisStreamNotFound)
	// A FAILED stream cannot be canceled and does not come back.
	_, err := c.CancelJournalKinesisStream(bg, &qldb.CancelJournalKinesisStreamInput{LedgerName: aws.String("doomed"), StreamId: aws.String(id)})
	var pre *types.ResourcePreconditionNotMetException
	if !errors.As(err, &pre) {
		t.Fatalf("cancel of a FAILED stream: %v", err)
	}
	if err := emu.CreateStream(bg, "doomed", 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	awaitStatus(t, c, "doomed", id, types.StreamStatusFailed, "")
}

func TestTerminalStreamsExpire(t *testing.T) {
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("short", 1))
	n := startWithKinesis(t, emu, func(c *config.Config) { c.StreamRetention = 300 * time.Millisecond })
	n.CreateLedger("short")
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	id := startStream(t, c, "short", "short", emu.StreamARN("short"), time.Now().Add(-time.Hour), nil, nil)
	keep := startStream(t, c, "short", "keep", emu.StreamARN("short"), time.Now().Add(-time.Hour), nil, nil)
	if _, err := c.CancelJournalKinesisStream(bg, &qldb.CancelJournalKinesisStreamInput{LedgerName: aws.String("short"), StreamId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	awaitStatus(t, c, "short", id, types.StreamStatusCanceled, "")
	// The name of a canceled stream is free again at once.
	startStream(t, c, "short", "short", emu.StreamARN("short"), time.Now().Add(-time.Hour), nil, nil)
	time.Sleep(400 * time.Millisecond)
	_, err := c.DescribeJournalKinesisStream(bg, &qldb.DescribeJournalKinesisStreamInput{LedgerName: aws.String("short"), StreamId: aws.String(id)})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("an expired canceled stream is still described: %v", err)
	}
	list, err := c.ListJournalKinesisStreamsForLedger(bg, &qldb.ListJournalKinesisStreamsForLedgerInput{LedgerName: aws.String("short")})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list.Streams {
		if aws.ToString(s.StreamId) == id {
			t.Fatal("an expired canceled stream is still listed")
		}
	}
	if len(list.Streams) != 2 {
		t.Errorf("want the 2 active streams listed (including %s), got %d", keep, len(list.Streams))
	}
}

// TestStreamFollowsResharding splits the destination's only shard while the
// stream runs. Until the worker notices, it aggregates for the old shard
// map; Kinesis then stores some aggregates on a child shard whose range
// does not hold all their user records, which a KCL consumer would drop.
// The worker must notice (PutRecords reports the shard it used) and send
// those user records again, packed for the new shards, so that a KCL-style
// consumer still receives every block.
func TestStreamFollowsResharding(t *testing.T) {
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("split", 1))
	n := startWithKinesis(t, emu, fastRetries)
	n.CreateLedger("split")
	drv := n.Driver("split")
	workload(t, drv, "T", 3)
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	startStream(t, c, "split", "split", emu.StreamARN("split"), time.Now().Add(-time.Hour), nil, nil)
	l := n.LedgerEngine("split")
	awaitBlocks(t, emu, "split", l.Next(), false)

	shards, err := emu.Client.ListShards(bg, &kinesis.ListShardsInput{StreamName: aws.String("split")})
	if err != nil {
		t.Fatal(err)
	}
	mid := new(big.Int).Lsh(big.NewInt(1), 127).String()
	if _, err := emu.Client.SplitShard(bg, &kinesis.SplitShardInput{StreamName: aws.String("split"),
		ShardToSplit: shards.Shards[0].ShardId, NewStartingHashKey: aws.String(mid)}); err != nil {
		t.Fatalf("SplitShard: %v", err)
	}
	testenv.Await(t, 30*time.Second, func() error {
		s, err := emu.Client.ListShards(bg, &kinesis.ListShardsInput{StreamName: aws.String("split")})
		if err == nil && len(s.Shards) != 3 {
			err = fmt.Errorf("the split has not shown: %d shards", len(s.Shards))
		}
		return err
	})
	// Multi-document transactions so that each window aggregates records
	// that hash to both children.
	for i := 0; i < 10; i++ {
		servertest.Commit(t, drv, fmt.Sprintf("INSERT INTO T << {'a': %d}, {'b': %d}, {'c': %d}, {'d': %d} >>", i, i, i, i))
	}
	upTo := l.Next()
	testenv.Await(t, 60*time.Second, func() error {
		col, err := streamtest.ReadAsKCL(bg, emu, "split")
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, d := range col.Records {
			seen[d.PartitionKey] = true
		}
		missing := 0
		for s := uint64(0); s < upTo; s++ {
			b, _, err := l.Block(s)
			if err != nil {
				t.Fatal(err)
			}
			if !seen[record.BlockSummaryPartitionKey(b)] {
				missing++
			}
			for _, r := range b.Revisions {
				if !r.IsSystem() && !seen[record.RevisionDetailsPartitionKey(r)] {
					missing++
				}
			}
		}
		if missing == 0 {
			per := map[string][2]int{}
			for _, d := range col.Records {
				x := per[d.ShardID]
				if d.Aggregated {
					x[0]++
				} else {
					x[1]++
				}
				per[d.ShardID] = x
			}
			t.Logf("per shard [aggregated, raw]: %v", per)
			t.Logf("a KCL-style consumer got every record; %d misplaced user records were dropped and re-sent", col.Dropped)
			return nil
		}
		return fmt.Errorf("%d records have not reached a KCL-style consumer (%d dropped as misplaced)", missing, col.Dropped)
	})
}
