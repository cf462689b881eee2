package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"
)

// Stream runs the stream scenario: first its live half (streamlive.go:
// commit → PutRecords acknowledged → readable at o.Rate for o.Duration, on
// a server of its own), then its backfill half: a journal of o.Blocks
// single-document transactions, then a journal stream from the ledger's
// start to a 1-shard Kinesis stream of the emulator. The backfill time is
// from StreamJournalToKinesis to the arrival of the last record (the
// emulator's ApproximateArrivalTimestamp, once no record arrived for 3 s).
// The ceiling is the same Kinesis records (data and partition keys, read
// back) put to a second stream with PutRecords by one client as fast as it
// can, in the same run; the ratio is backfill ÷ ceiling in bytes per second.
// Both run on an emulator warmed up first (warmEmulator).
func Stream(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	rep := &Report{Scenario: "stream", Started: timeNow(), Machine: machine(), Options: o.public(), Ratios: map[string]float64{}}
	if o.Endpoint != "" {
		rep.Notes = append(rep.Notes, "stream: needs a child server with the emulator; not run with --endpoint")
		printRatios(o.Out, rep)
		return rep, nil
	}
	emu, err := startEmulator(&o, []string{liveStreamName, "backfill", "ceiling", "warmup"})
	if err != nil {
		rep.Notes = append(rep.Notes, "stream: no Kinesis emulator: "+err.Error())
		printRatios(o.Out, rep)
		return rep, err
	}
	defer emu.stop()
	dir, cleanup, err := workDir(&o)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	if err := streamLive(ctx, &o, rep, emu, dir); err != nil {
		return rep, err
	}
	t, err := startServer(ctx, &o, filepath.Join(dir, "stream"), kinesisEnv, "--kinesis-endpoint", emu.url)
	if err != nil {
		return rep, err
	}
	defer func() { t.stop() }()
	const ledgerName = "bench"
	if err := t.createLedger(ctx, ledgerName); err != nil {
		return rep, err
	}
	from := time.Now().Add(-time.Minute)
	if err := fill(ctx, &o, t, ledgerName, o.Blocks); err != nil {
		return rep, err
	}
	kc := kinesis.New(kinesis.Options{Region: o.Region, BaseEndpoint: aws.String(emu.url),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
	if err := warmEmulator(ctx, kc); err != nil {
		return rep, err
	}

	start := time.Now()
	if _, err := t.qldb().StreamJournalToKinesis(ctx, &qldb.StreamJournalToKinesisInput{
		LedgerName: aws.String(ledgerName), RoleArn: aws.String("arn:aws:iam::000000000000:role/strand-bench"), StreamName: aws.String("backfill"),
		InclusiveStartTime:   aws.Time(from),
		KinesisConfiguration: &types.KinesisConfiguration{StreamArn: aws.String(streamARN(o.Region, "backfill")), AggregationEnabled: aws.Bool(true)},
	}); err != nil {
		return rep, fmt.Errorf("bench: start stream: %w", err)
	}
	// Read the destination until nothing new arrived for 3 s.
	recs, err := drain(ctx, &o, kc, "backfill", 3*time.Second, o.Duration*30)
	if err != nil {
		return rep, err
	}
	if len(recs) == 0 {
		return rep, fmt.Errorf("bench: the stream delivered nothing")
	}
	last := start
	var bytes int64
	for _, r := range recs {
		if r.ApproximateArrivalTimestamp != nil && r.ApproximateArrivalTimestamp.After(last) {
			last = *r.ApproximateArrivalTimestamp
		}
		bytes += int64(len(r.Data)) + int64(len(aws.ToString(r.PartitionKey)))
	}
	backfill := last.Sub(start)
	tab := &table{w: o.Out}
	brow := Row{Name: "stream backfill", Ops: int64(len(recs)), Seconds: backfill.Seconds(), Unit: "MiB",
		PerSecond: float64(bytes) / (1 << 20) / backfill.Seconds(), Extra: map[string]float64{"kinesis_records": float64(len(recs)), "blocks": float64(o.Blocks)}}
	tab.row(brow)
	rep.Rows = append(rep.Rows, brow)

	// The ceiling: the same records, put by one client.
	cstart := time.Now()
	for i := 0; i < len(recs); {
		var batch []ktypes.PutRecordsRequestEntry
		size := 0
		for ; i < len(recs) && len(batch) < 500; i++ {
			n := len(recs[i].Data) + len(aws.ToString(recs[i].PartitionKey))
			if size+n > 5<<20 {
				break
			}
			size += n
			batch = append(batch, ktypes.PutRecordsRequestEntry{Data: recs[i].Data, PartitionKey: recs[i].PartitionKey})
		}
		for len(batch) > 0 {
			out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("ceiling"), Records: batch})
			if err != nil {
				return rep, fmt.Errorf("bench: raw PutRecords: %w", err)
			}
			var retry []ktypes.PutRecordsRequestEntry
			for j, r := range out.Records {
				if r.ErrorCode != nil {
					retry = append(retry, batch[j])
				}
			}
			batch = retry
		}
	}
	ceiling := time.Since(cstart)
	crow := Row{Name: "raw PutRecords, same bytes", Ops: int64(len(recs)), Seconds: ceiling.Seconds(), Unit: "MiB",
		PerSecond: float64(bytes) / (1 << 20) / ceiling.Seconds()}
	tab.row(crow)
	rep.Rows = append(rep.Rows, crow)
	if crow.PerSecond > 0 {
		rep.Ratios["backfill_over_raw_putrecords"] = brow.PerSecond / crow.PerSecond
	}
	printRatios(o.Out, rep)
	return rep, nil
}

// warmEmulator puts a few full-size PutRecords calls to a stream of their
// own before the backfill. kinesalite's first multi-megabyte calls are
// several times slower than the later ones (measured: about 6 s, then
// 1.4 s, for 100 records of 51 KB), so without this the backfill, which
// comes first, would pay the emulator's warm-up and the ceiling after it
// would not.
func warmEmulator(ctx context.Context, kc *kinesis.Client) error {
	data := make([]byte, 51_200)
	for i := range data {
		data[i] = byte(i * 31)
	}
	batch := make([]ktypes.PutRecordsRequestEntry, 100)
	for i := range batch {
		batch[i] = ktypes.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(fmt.Sprint(i))}
	}
	for range 3 {
		if _, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("warmup"), Records: batch}); err != nil {
			return fmt.Errorf("bench: warm the emulator up: %w", err)
		}
	}
	return nil
}

// drain reads every record of a 1-shard stream, polling until no new
// record arrived for quiet (or limit passed), printing progress.
func drain(ctx context.Context, o *Options, kc *kinesis.Client, stream string, quiet, limit time.Duration) ([]ktypes.Record, error) {
	shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil || len(shards.Shards) == 0 {
		return nil, fmt.Errorf("bench: list shards of %s: %v", stream, err)
	}
	it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: shards.Shards[0].ShardId,
		ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		return nil, fmt.Errorf("bench: shard iterator: %w", err)
	}
	iter := it.ShardIterator
	var recs []ktypes.Record
	start, lastNew, lastPrint := time.Now(), time.Now(), time.Now()
	for (len(recs) == 0 || time.Since(lastNew) < quiet) && time.Since(start) < limit {
		out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
		if err != nil {
			return nil, fmt.Errorf("bench: get records: %w", err)
		}
		if len(out.Records) > 0 {
			recs = append(recs, out.Records...)
			lastNew = time.Now()
		} else {
			time.Sleep(50 * time.Millisecond)
		}
		iter = out.NextShardIterator
		if time.Since(lastPrint) > time.Second {
			fmt.Fprintf(o.Progress, "bench: stream %s: %d Kinesis records read, %.0fs\n", stream, len(recs), time.Since(start).Seconds())
			lastPrint = time.Now()
		}
	}
	return recs, nil
}
