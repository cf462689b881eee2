package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"
	"github.com/awslabs/kinesis-aggregation/go/v2/deaggregator"
	dto "github.com/prometheus/client_model/go"

	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/stream/kpl"
	"github.com/strand-db/strand/internal/stream/record"
	"github.com/strand-db/strand/internal/testenv/kinesisemu"
)

// These benchmarks measure whole runs, not per-op costs: run them with
// -benchtime 1x (see BENCHMARKS.md).

// tailShards reads every shard from LATEST until ctx ends and calls fn with
// each user record and the moment it was read.
func tailShards(ctx context.Context, b *testing.B, emu *kinesisemu.Emulator, stream string, fn func(rec *record.Record, seen time.Time)) *sync.WaitGroup {
	shards, err := emu.Client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, sh := range shards.Shards {
		it, err := emu.Client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: sh.ShardId, ShardIteratorType: ktypes.ShardIteratorTypeLatest})
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func(iter *string) {
			defer wg.Done()
			for ctx.Err() == nil {
				out, err := emu.Client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
				if err != nil {
					return
				}
				seen := time.Now()
				users, err := deaggregator.DeaggregateRecords(out.Records)
				if err != nil {
					b.Error(err)
					return
				}
				for _, u := range users {
					if rec, err := record.Decode(u.Data); err == nil {
						fn(rec, seen)
					}
				}
				iter = out.NextShardIterator
				if len(out.Records) == 0 {
					time.Sleep(2 * time.Millisecond)
				}
			}
		}(it.ShardIterator)
	}
	return &wg
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(float64(len(sorted)-1)*p)]
}

// BenchmarkStreamLatency commits single-document transactions at a steady
// rate and measures, for every block, the time from its blockTimestamp to
// the moment a consumer polling the emulator reads its BLOCK_SUMMARY.
func BenchmarkStreamLatency(b *testing.B) {
	const rate, seconds, workers = 1000, 10, 32
	emu := kinesisemu.StartKinesalite(b, kinesisemu.Stream("latency", 1))
	n := startWithKinesis(b, emu, nil)
	n.CreateLedger("latency")
	drv := n.Driver("latency", func(o *qldbdriver.DriverOptions) { o.MaxConcurrentTransactions = workers })
	if _, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) { return tx.Execute("CREATE TABLE T") }); err != nil {
		b.Fatal(err)
	}
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	_, err := c.StreamJournalToKinesis(bg, &qldb.StreamJournalToKinesisInput{LedgerName: aws.String("latency"), RoleArn: aws.String(testRole),
		StreamName: aws.String("latency"), InclusiveStartTime: aws.Time(time.Now()),
		KinesisConfiguration: &types.KinesisConfiguration{StreamArn: aws.String(emu.StreamARN("latency"))}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	var mu sync.Mutex
	var lat []time.Duration
	seenBlocks := map[uint64]bool{}
	wg := tailShards(ctx, b, emu, "latency", func(rec *record.Record, seen time.Time) {
		if rec.Type != record.TypeBlockSummary {
			return
		}
		mu.Lock()
		if !seenBlocks[rec.Block.Address.SequenceNo] {
			seenBlocks[rec.Block.Address.SequenceNo] = true
			lat = append(lat, seen.Sub(rec.Block.Timestamp))
		}
		mu.Unlock()
	})
	time.Sleep(200 * time.Millisecond)

	b.ResetTimer()
	start := time.Now()
	total := rate * seconds
	var next atomic.Int64
	var committed atomic.Int64
	var lwg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lwg.Add(1)
		go func() {
			defer lwg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(total) {
					return
				}
				if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
					time.Sleep(d)
				}
				_, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
					return tx.Execute("INSERT INTO T ?", map[string]any{"n": i, "payload": "0123456789abcdef0123456789abcdef"})
				})
				if err == nil {
					committed.Add(1)
				}
			}
		}()
	}
	lwg.Wait()
	elapsed := time.Since(start)
	l := n.LedgerEngine("latency")
	want := int(l.Next()) - 2 // blocks after the stream started (CREATE TABLE came before)
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		got := len(lat)
		mu.Unlock()
		if got >= want || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(committed.Load())/elapsed.Seconds(), "tx/s")
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(percentile(lat, 1).Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(len(lat)), "blocks-seen")
}

// BenchmarkStreamBackfill streams an existing 100,000-revision journal and
// compares the delivery rate with the emulator's raw PutRecords ceiling for
// the same bytes, measured in the same run.
func BenchmarkStreamBackfill(b *testing.B) {
	const txs, perTx = 2500, 40 // 100,000 revisions
	emu := kinesisemu.StartKinesalite(b, kinesisemu.Stream("backfill", 1), kinesisemu.Stream("raw", 1))
	n := startWithKinesis(b, emu, nil)
	n.CreateLedger("backfill")
	drv := n.Driver("backfill", func(o *qldbdriver.DriverOptions) { o.MaxConcurrentTransactions = 16 })
	if _, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) { return tx.Execute("CREATE TABLE Doc") }); err != nil {
		b.Fatal(err)
	}
	stmt := "INSERT INTO Doc <<?" + strings.Repeat(", ?", perTx-1) + ">>"
	var next atomic.Int64
	var lwg sync.WaitGroup
	for w := 0; w < 16; w++ {
		lwg.Add(1)
		go func() {
			defer lwg.Done()
			for i := next.Add(1) - 1; i < txs; i = next.Add(1) - 1 {
				params := make([]any, perTx)
				for j := range params {
					params[j] = map[string]any{"tx": i, "n": j, "owner": fmt.Sprintf("owner-%d-%d", i, j), "amount": 1234.5, "note": "a typical small document of a few fields"}
				}
				if _, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) { return tx.Execute(stmt, params...) }); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	lwg.Wait()
	l := n.LedgerEngine("backfill")
	tip := l.Next()

	b.ResetTimer()
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	start := time.Now()
	out, err := c.StreamJournalToKinesis(bg, &qldb.StreamJournalToKinesisInput{LedgerName: aws.String("backfill"), RoleArn: aws.String(testRole),
		StreamName: aws.String("backfill"), InclusiveStartTime: aws.Time(time.Now().Add(-time.Hour)),
		KinesisConfiguration: &types.KinesisConfiguration{StreamArn: aws.String(emu.StreamARN("backfill"))}})
	if err != nil {
		b.Fatal(err)
	}
	for {
		if d, _ := n.Streams().Delivered(*out.StreamId); d >= tip {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	streamed := time.Since(start)
	b.StopTimer()

	userRecords, userBytes, kinRecords := metricSum(b, n, "strand_stream_user_records_put_total"), metricSum(b, n, "strand_stream_user_bytes_put_total"), metricSum(b, n, "strand_stream_kinesis_records_put_total")

	// The ceiling: the same user records, aggregated the same way, put to
	// a fresh stream of the same emulator as fast as one client can.
	var users []kpl.UserRecord
	for s := uint64(0); s < tip; s++ {
		blk, _, err := l.Block(s)
		if err != nil {
			b.Fatal(err)
		}
		data, _ := record.EncodeBlockSummary("arn:aws:qldb:us-east-1:000000000000:stream/backfill/x", blk)
		users = append(users, kpl.UserRecord{PartitionKey: record.BlockSummaryPartitionKey(blk), Data: data, Seq: uint64(len(users))})
		for _, rev := range blk.Revisions {
			if !rev.IsSystem() {
				data, _ := record.EncodeRevisionDetails("arn:aws:qldb:us-east-1:000000000000:stream/backfill/x", blk.Address, rev)
				users = append(users, kpl.UserRecord{PartitionKey: record.RevisionDetailsPartitionKey(rev), Data: data, Seq: uint64(len(users))})
			}
		}
	}
	shards, err := emu.Client.ListShards(bg, &kinesis.ListShardsInput{StreamName: aws.String("raw")})
	if err != nil {
		b.Fatal(err)
	}
	sm, _ := kpl.NewShardMap(shards.Shards)
	agg, _ := kpl.NewAggregator(sm, kpl.Config{})
	var kin []kpl.Record
	for _, u := range users {
		r, _ := agg.Add(u)
		kin = append(kin, r...)
	}
	rest, _ := agg.Flush()
	kin = append(kin, rest...)
	rawStart := time.Now()
	for i := 0; i < len(kin); {
		var entries []ktypes.PutRecordsRequestEntry
		size := 0
		for ; i < len(kin) && len(entries) < 500 && size+kin[i].Size() <= 5<<20; i++ {
			entries = append(entries, kin[i].PutRecordsEntry())
			size += kin[i].Size()
		}
		if _, err := emu.Client.PutRecords(bg, &kinesis.PutRecordsInput{StreamName: aws.String("raw"), Records: entries}); err != nil {
			b.Fatal(err)
		}
	}
	raw := time.Since(rawStart)

	b.ReportMetric(userRecords/streamed.Seconds(), "user-records/s")
	b.ReportMetric(userBytes/streamed.Seconds()/(1<<20), "MiB/s")
	b.ReportMetric(userBytes/raw.Seconds()/(1<<20), "raw-MiB/s")
	b.ReportMetric(100*raw.Seconds()/streamed.Seconds(), "%-of-raw")
	b.ReportMetric(userRecords/kinRecords, "records/aggregate")
	b.ReportMetric(float64(len(users)), "user-records")
	var aggBytes int
	aggregates := 0
	for _, k := range kin {
		if k.Aggregated() {
			aggBytes += k.Size()
			aggregates++
		}
	}
	if aggregates > 0 {
		b.ReportMetric(100*float64(aggBytes)/float64(aggregates)/float64(kpl.DefaultMaxAggregateSize), "%-fill")
	}
}

// metricSum adds up every series of a counter in the node's registry.
func metricSum(b *testing.B, n *servertest.Node, name string) float64 {
	mfs, err := n.Metrics().Gather()
	if err != nil {
		b.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			sum += counterValue(m)
		}
	}
	return sum
}

func counterValue(m *dto.Metric) float64 {
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return 0
}
