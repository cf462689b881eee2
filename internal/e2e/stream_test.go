package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"
	"github.com/aws/smithy-go"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/stream/record"
	"github.com/strand-db/strand/internal/stream/streamtest"
	"github.com/strand-db/strand/internal/testenv"
	"github.com/strand-db/strand/internal/testenv/kinesisemu"
)

const testRole = "arn:aws:iam::000000000000:role/qldb-stream"

// startWithKinesis starts a node whose Kinesis calls go to the emulator.
func startWithKinesis(t testing.TB, emu *kinesisemu.Emulator, mutate func(*config.Config)) *servertest.Node {
	return servertest.Start(t, func(c *config.Config) {
		c.KinesisEndpoint = emu.Endpoint
		c.KinesisCredentials = credentials.NewStaticCredentialsProvider("AKIDKINESIS", "kinesis-secret", "")
		if mutate != nil {
			mutate(c)
		}
	})
}

// workload commits a mix of DDL, inserts, updates, deletes and a read-only
// transaction.
func workload(t *testing.T, drv *qldbdriver.QLDBDriver, table string, docs int) {
	t.Helper()
	servertest.Commit(t, drv, "CREATE TABLE "+table)
	servertest.Commit(t, drv, "CREATE INDEX ON "+table+" (k)")
	for i := 0; i < docs; i++ {
		servertest.Commit(t, drv, fmt.Sprintf("INSERT INTO %s VALUE {'k': %d, 'name': 'doc-%d', 'tags': ['a', 'b'], 'when': `2024-01-02T03:04:05.123456789Z`}", table, i, i))
	}
	servertest.Commit(t, drv, fmt.Sprintf("UPDATE %s AS d SET d.name = 'changed' WHERE d.k = 1", table),
		fmt.Sprintf("UPDATE %s AS d SET d.extra = 1.50 WHERE d.k = 2", table))
	servertest.Commit(t, drv, fmt.Sprintf("DELETE FROM %s AS d WHERE d.k = 0", table))
	servertest.Commit(t, drv, "SELECT * FROM "+table)
}

func startStream(t *testing.T, c *qldb.Client, ledgerName, name, streamARN string, start time.Time, end *time.Time, aggregate *bool) string {
	t.Helper()
	out, err := c.StreamJournalToKinesis(bg, &qldb.StreamJournalToKinesisInput{
		LedgerName: aws.String(ledgerName), RoleArn: aws.String(testRole), StreamName: aws.String(name),
		InclusiveStartTime: aws.Time(start), ExclusiveEndTime: end,
		KinesisConfiguration: &types.KinesisConfiguration{StreamArn: aws.String(streamARN), AggregationEnabled: aggregate},
		Tags:                 map[string]*string{"purpose": aws.String("test")},
	})
	if err != nil {
		t.Fatalf("StreamJournalToKinesis: %v", err)
	}
	if id := aws.ToString(out.StreamId); len(id) != 22 {
		t.Fatalf("StreamId %q is not 22 characters", id)
	}
	return aws.ToString(out.StreamId)
}

// awaitBlocks reads the destination until it holds a BLOCK_SUMMARY for every
// block in [0, upTo), the REVISION_DETAILS of every revision those list (and,
// if wantCompleted, a COMPLETED control record).
func awaitBlocks(t *testing.T, emu *kinesisemu.Emulator, kinesisStream string, upTo uint64, wantCompleted bool) *streamtest.Collection {
	t.Helper()
	var c *streamtest.Collection
	testenv.Await(t, 60*time.Second, func() error {
		var err error
		c, err = streamtest.Read(bg, emu, kinesisStream)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[uint64]bool{}
		completed := false
		for _, d := range c.Records {
			if d.Record.Type == record.TypeBlockSummary {
				seen[d.Record.Block.Address.SequenceNo] = true
			}
			if d.Record.Type == record.TypeControl && d.Record.ControlType == record.ControlCompleted {
				completed = true
			}
		}
		all := true
		for s := uint64(0); s < upTo; s++ {
			all = all && seen[s]
		}
		// Records of one block travel in separate entries, and only failed
		// entries are retried: a block's REVISION_DETAILS may still be on
		// their way when its BLOCK_SUMMARY is in.
		_, incomplete := c.Blocks()
		if all && (completed || !wantCompleted) && incomplete == nil {
			return nil
		}
		return fmt.Errorf("destination has %d of %d blocks (completed=%v, revisions: %v)", len(seen), upTo, completed, incomplete)
	})
	return c
}

// verifyStreamedJournal checks what a consumer can check: CREATED present,
// every block and revision delivered, hashes recompute, blocks chain, and
// the streamed blocks equal the journal's.
func verifyStreamedJournal(t *testing.T, n *servertest.Node, ledgerName string, c *streamtest.Collection, from, upTo uint64) {
	t.Helper()
	if err := c.CheckPartitionKeys(); err != nil {
		t.Fatal(err)
	}
	controls := c.Controls()
	if len(controls) == 0 || controls[0] != record.ControlCreated {
		t.Fatalf("control records %v: CREATED must come first", controls)
	}
	blocks, err := c.Blocks()
	if err != nil {
		t.Fatal(err)
	}
	l := n.LedgerEngine(ledgerName)
	bySeq := map[uint64]*journal.Block{}
	for _, b := range blocks {
		bySeq[b.Address.SequenceNo] = b
	}
	var prev []byte
	for s := from; s < upTo; s++ {
		got, ok := bySeq[s]
		if !ok {
			t.Fatalf("block %d was not streamed", s)
		}
		want, _, err := l.Block(s)
		if err != nil {
			t.Fatal(err)
		}
		if s > from {
			if err := journal.VerifyBlock(got, prev); err != nil {
				t.Fatalf("streamed block %d does not verify: %v", s, err)
			}
		}
		if fmt.Sprintf("%x", got.BlockHash) != fmt.Sprintf("%x", want.BlockHash) || len(got.Revisions) != len(want.Revisions) {
			t.Fatalf("streamed block %d differs from the journal", s)
		}
		for i := range want.Revisions {
			if (want.Revisions[i].Data == nil) != (got.Revisions[i].Data == nil) {
				t.Fatalf("block %d revision %d: data presence differs", s, i)
			}
		}
		prev = got.BlockHash
	}
}

func TestStreamEndToEnd(t *testing.T) {
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("journal", 4))
	n := startWithKinesis(t, emu, nil)
	n.CreateLedger("streamed")
	drv := n.Driver("streamed")
	workload(t, drv, "Item", 12)

	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	id := startStream(t, c, "streamed", "to-kinesis", emu.StreamARN("journal"), time.Now().Add(-time.Hour), nil, nil)
	workload(t, drv, "Later", 5) // committed while the stream runs

	l := n.LedgerEngine("streamed")
	upTo := l.Next()
	col := awaitBlocks(t, emu, "journal", upTo, false)
	verifyStreamedJournal(t, n, "streamed", col, 0, upTo)
	aggregated := 0
	for _, d := range col.Records {
		if d.Aggregated {
			aggregated++
		}
	}
	if aggregated == 0 {
		t.Errorf("aggregation is on by default, but no record arrived aggregated (%d Kinesis records)", col.KinesisRecords)
	}

	d, err := c.DescribeJournalKinesisStream(bg, &qldb.DescribeJournalKinesisStreamInput{LedgerName: aws.String("streamed"), StreamId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	s := d.Stream
	if s.Status != types.StreamStatusActive || aws.ToString(s.StreamName) != "to-kinesis" || aws.ToString(s.RoleArn) != testRole ||
		aws.ToString(s.Arn) != "arn:aws:qldb:us-east-1:000000000000:stream/streamed/"+id || !aws.ToBool(s.KinesisConfiguration.AggregationEnabled) ||
		aws.ToString(s.KinesisConfiguration.StreamArn) != emu.StreamARN("journal") || s.CreationTime == nil || s.InclusiveStartTime == nil || s.ExclusiveEndTime != nil {
		t.Errorf("describe: %+v", s)
	}
	lt, err := c.ListTagsForResource(bg, &qldb.ListTagsForResourceInput{ResourceArn: s.Arn})
	if err != nil || aws.ToString(lt.Tags["purpose"]) != "test" {
		t.Errorf("stream tags: %v %v", err, lt)
	}
	// Streams share the ledger's tagging rules: replace, add, refuse aws:,
	// untag to nothing.
	if _, err := c.TagResource(bg, &qldb.TagResourceInput{ResourceArn: s.Arn, Tags: map[string]*string{"purpose": aws.String("again"), "b": nil}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.TagResource(bg, &qldb.TagResourceInput{ResourceArn: s.Arn, Tags: map[string]*string{"aws:x": aws.String("1")}})
	var tagErr *types.InvalidParameterException
	if !errors.As(err, &tagErr) || !strings.Contains(aws.ToString(tagErr.Message), "reserved prefix aws:") {
		t.Errorf("aws: tag on a stream: %v", err)
	}
	lt, err = c.ListTagsForResource(bg, &qldb.ListTagsForResourceInput{ResourceArn: s.Arn})
	if err != nil || len(lt.Tags) != 2 || aws.ToString(lt.Tags["purpose"]) != "again" || lt.Tags["b"] == nil || *lt.Tags["b"] != "" {
		t.Errorf("stream tags after TagResource: %v %v", err, lt)
	}
	if _, err := c.UntagResource(bg, &qldb.UntagResourceInput{ResourceArn: s.Arn, TagKeys: []string{"purpose", "b", "absent"}}); err != nil {
		t.Fatal(err)
	}
	lt, err = c.ListTagsForResource(bg, &qldb.ListTagsForResourceInput{ResourceArn: s.Arn})
	if err != nil || lt.Tags == nil || len(lt.Tags) != 0 {
		t.Errorf("stream tags after UntagResource: %v %v", err, lt)
	}
	list, err := c.ListJournalKinesisStreamsForLedger(bg, &qldb.ListJournalKinesisStreamsForLedgerInput{LedgerName: aws.String("streamed")})
	if err != nil || len(list.Streams) != 1 || aws.ToString(list.Streams[0].StreamId) != id {
		t.Fatalf("list: %v %+v", err, list)
	}
	if _, err := c.CancelJournalKinesisStream(bg, &qldb.CancelJournalKinesisStreamInput{LedgerName: aws.String("streamed"), StreamId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	d, _ = c.DescribeJournalKinesisStream(bg, &qldb.DescribeJournalKinesisStreamInput{LedgerName: aws.String("streamed"), StreamId: aws.String(id)})
	if d.Stream.Status != types.StreamStatusCanceled {
		t.Errorf("after cancel: %s", d.Stream.Status)
	}
	_, err = c.CancelJournalKinesisStream(bg, &qldb.CancelJournalKinesisStreamInput{LedgerName: aws.String("streamed"), StreamId: aws.String(id)})
	var pre *types.ResourcePreconditionNotMetException
	if !errors.As(err, &pre) {
		t.Errorf("second cancel: %v", err)
	}
	for _, ctl := range col.Controls() {
		if ctl == record.ControlCompleted {
			t.Errorf("an unbounded stream wrote COMPLETED")
		}
	}
}

func TestStreamPastEndCompletesWithoutAggregation(t *testing.T) {
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("bounded", 2))
	n := startWithKinesis(t, emu, nil)
	n.CreateLedger("bounded")
	drv := n.Driver("bounded")
	workload(t, drv, "T", 4)
	l := n.LedgerEngine("bounded")
	end := time.Now()
	upTo := l.Barrier()
	time.Sleep(5 * time.Millisecond)
	servertest.Commit(t, drv, "INSERT INTO T VALUE {'k': 100}") // after the end time: not streamed

	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	id := startStream(t, c, "bounded", "bounded", emu.StreamARN("bounded"), time.Now().Add(-time.Hour), &end, aws.Bool(false))
	col := awaitBlocks(t, emu, "bounded", upTo, true)
	verifyStreamedJournal(t, n, "bounded", col, 0, upTo)
	for _, d := range col.Records {
		if d.Aggregated {
			t.Fatal("AggregationEnabled=false, but a record arrived aggregated")
		}
		if d.Record.Type == record.TypeBlockSummary && d.Record.Block.Address.SequenceNo >= upTo {
			t.Fatalf("block %d is past the end time but was streamed", d.Record.Block.Address.SequenceNo)
		}
	}
	if ctl := col.Controls(); ctl[len(ctl)-1] != record.ControlCompleted {
		t.Errorf("controls %v: COMPLETED must be last", ctl)
	}
	awaitStatus(t, c, "bounded", id, types.StreamStatusCompleted, "")
}

func TestStreamValidation(t *testing.T) {
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("valid", 1))
	n := startWithKinesis(t, emu, func(c *config.Config) { c.MaxStreamsPerLedger = 2 })
	n.CreateLedger("val")
	c := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	past := time.Now().Add(-time.Minute)
	good := func() *qldb.StreamJournalToKinesisInput {
		return &qldb.StreamJournalToKinesisInput{LedgerName: aws.String("val"), RoleArn: aws.String(testRole), StreamName: aws.String("s1"),
			InclusiveStartTime:   aws.Time(past),
			KinesisConfiguration: &types.KinesisConfiguration{StreamArn: aws.String(emu.StreamARN("valid"))}}
	}
	cases := []struct {
		name   string
		mutate func(*qldb.StreamJournalToKinesisInput)
		code   string
	}{
		{"missing ledger", func(in *qldb.StreamJournalToKinesisInput) { in.LedgerName = aws.String("nope") }, "ResourceNotFoundException"},
		{"bad role", func(in *qldb.StreamJournalToKinesisInput) {
			in.RoleArn = aws.String("arn:aws:s3:::bucket/x-long-enough")
		}, "InvalidParameterException"},
		{"bad stream arn", func(in *qldb.StreamJournalToKinesisInput) {
			in.KinesisConfiguration.StreamArn = aws.String("arn:aws:sqs:us-east-1:000000000000:queue")
		}, "InvalidParameterException"},
		{"missing destination", func(in *qldb.StreamJournalToKinesisInput) {
			in.KinesisConfiguration.StreamArn = aws.String(emu.StreamARN("does-not-exist"))
		}, "InvalidParameterException"},
		{"future start", func(in *qldb.StreamJournalToKinesisInput) {
			in.InclusiveStartTime = aws.Time(time.Now().Add(time.Hour))
		}, "InvalidParameterException"},
		{"end before start", func(in *qldb.StreamJournalToKinesisInput) { in.ExclusiveEndTime = aws.Time(past.Add(-time.Second)) }, "InvalidParameterException"},
		{"bad stream name", func(in *qldb.StreamJournalToKinesisInput) { in.StreamName = aws.String("no--way") }, "InvalidParameterException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := good()
			tc.mutate(in)
			_, err := c.StreamJournalToKinesis(bg, in)
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
				t.Fatalf("want %s, got %v", tc.code, err)
			}
			if tc.name == "missing destination" && !strings.Contains(ae.ErrorMessage(), "ResourceNotFoundException") {
				t.Errorf("message does not quote Kinesis's error: %s", ae.ErrorMessage())
			}
		})
	}
	if _, err := c.StreamJournalToKinesis(bg, good()); err != nil {
		t.Fatal(err)
	}
	_, err := c.StreamJournalToKinesis(bg, good()) // same name, still active
	var ip *types.InvalidParameterException
	if !errors.As(err, &ip) {
		t.Errorf("duplicate active name: %v", err)
	}
	second := good()
	second.StreamName = aws.String("s2")
	if _, err := c.StreamJournalToKinesis(bg, second); err != nil {
		t.Fatal(err)
	}
	third := good()
	third.StreamName = aws.String("s3")
	_, err = c.StreamJournalToKinesis(bg, third)
	var le smithy.APIError // not in the model's error list for this operation, so it arrives untyped
	if !errors.As(err, &le) || le.ErrorCode() != "LimitExceededException" {
		t.Errorf("third active stream with a quota of 2: %v", err)
	}
	list, err := c.ListJournalKinesisStreamsForLedger(bg, &qldb.ListJournalKinesisStreamsForLedgerInput{LedgerName: aws.String("val"), MaxResults: aws.Int32(1)})
	if err != nil || len(list.Streams) != 1 || list.NextToken == nil {
		t.Fatalf("page 1: %v %+v", err, list)
	}
	list2, err := c.ListJournalKinesisStreamsForLedger(bg, &qldb.ListJournalKinesisStreamsForLedgerInput{LedgerName: aws.String("val"), MaxResults: aws.Int32(1), NextToken: list.NextToken})
	if err != nil || len(list2.Streams) != 1 || list2.NextToken != nil || aws.ToString(list2.Streams[0].StreamId) == aws.ToString(list.Streams[0].StreamId) {
		t.Fatalf("page 2: %v %+v", err, list2)
	}
	_, err = c.DescribeJournalKinesisStream(bg, &qldb.DescribeJournalKinesisStreamInput{LedgerName: aws.String("val"), StreamId: aws.String("0000000000000000000000")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("describe unknown stream: %v", err)
	}
}

func startWithKinesisCreds() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider("AKIDKINESIS", "kinesis-secret", "")
}
