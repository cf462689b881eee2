package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	qtypes "github.com/aws/aws-sdk-go-v2/service/qldb/types"
	"github.com/awslabs/kinesis-aggregation/go/v2/deaggregator"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/stream/record"
	"github.com/strand-db/strand/internal/streamtail"
	"github.com/strand-db/strand/internal/testenv"
	"github.com/strand-db/strand/internal/testenv/kinesisemu"
)

// runTail runs `strand stream tail` to completion and returns its output
// and exit status.
func runTail(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"stream", "tail"}, args...)...)
	cmd.Env = shellEnv(t.TempDir())
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("stream tail did not end\nstderr:\n%s", e.String())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// userRecords reads every user record of a Kinesis stream, deaggregated.
func userRecords(t *testing.T, emu *kinesisemu.Emulator, name string) []ktypes.Record {
	t.Helper()
	shards, err := emu.ReadAll(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	var out []ktypes.Record
	for _, sh := range shards {
		users, err := deaggregator.DeaggregateRecords(sh.Records)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, users...)
	}
	return out
}

// TestStreamTailVerify streams a ledger's journal to kinesalite with KPL
// aggregation, then runs `strand stream tail --verify` on it (found through
// DescribeJournalKinesisStream): every record is printed and verification
// passes. It then forges a copy of those records into a second stream that
// is split into two child shards a third of the way and merged back into
// one at two thirds, with one block summary left out,
// one revision's data changed (its hash kept) and one record delivered
// twice: the tail reads parent and children and --verify flags the missing
// block and the changed revision, counts the duplicate, and exits 1.
func TestStreamTailVerify(t *testing.T) {
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("journal", 2), kinesisemu.Stream("forged", 1))
	node := servertest.Start(t, func(c *config.Config) {
		c.KinesisEndpoint = emu.Endpoint
		c.KinesisCredentials = credentials.NewStaticCredentialsProvider("AKIDKINESIS", "kinesis-secret", "")
	})
	node.CreateLedger("tailed")
	drv := node.Driver("tailed")
	servertest.Commit(t, drv, "CREATE TABLE cars")
	for i := 0; i < 6; i++ {
		servertest.Commit(t, drv, fmt.Sprintf("INSERT INTO cars VALUE {'vin': 'V%d', 'n': %d}", i, i),
			fmt.Sprintf("INSERT INTO cars VALUE {'vin': 'W%d', 'n': %d}", i, i))
	}
	servertest.Commit(t, drv, "UPDATE cars AS c SET c.n = 100 WHERE c.vin = 'V1'")
	servertest.Commit(t, drv, "DELETE FROM cars AS c WHERE c.vin = 'V2'")
	nBlocks := len(servertest.Blocks(t, node.LedgerEngine("tailed")))

	qc := node.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	ctx := context.Background()
	out, err := qc.StreamJournalToKinesis(ctx, &qldb.StreamJournalToKinesisInput{
		LedgerName: aws.String("tailed"), RoleArn: aws.String("arn:aws:iam::000000000000:role/qldb-stream"),
		StreamName: aws.String("tail"), InclusiveStartTime: aws.Time(time.Now().Add(-time.Hour)),
		KinesisConfiguration: &qtypes.KinesisConfiguration{StreamArn: aws.String(emu.StreamARN("journal")), AggregationEnabled: aws.Bool(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := qc.DescribeJournalKinesisStream(ctx, &qldb.DescribeJournalKinesisStreamInput{LedgerName: aws.String("tailed"), StreamId: out.StreamId})
	if err != nil {
		t.Fatal(err)
	}
	journalStreamARN := aws.ToString(desc.Stream.Arn)

	// Wait until Kinesis holds a summary of every block and the details of
	// every revision they list.
	var users []ktypes.Record
	testenv.Await(t, 30*time.Second, func() error {
		users = userRecords(t, emu, "journal")
		blocks, revs := map[uint64]bool{}, map[string]bool{}
		var listed []string
		for _, u := range users {
			r, err := record.Decode(u.Data)
			if err != nil {
				t.Fatal(err)
			}
			switch r.Type {
			case record.TypeBlockSummary:
				blocks[r.Block.Address.SequenceNo] = true
				for _, rv := range r.Block.Revisions {
					if !rv.IsSystem() {
						listed = append(listed, string(rv.Hash))
					}
				}
			case record.TypeRevisionDetails:
				revs[string(r.Revision.Revision.Hash)] = true
			}
		}
		for _, h := range listed {
			if !revs[h] {
				return errors.New("revision details still on their way")
			}
		}
		if len(blocks) < nBlocks {
			return fmt.Errorf("%d of %d blocks streamed", len(blocks), nBlocks)
		}
		return nil
	})

	bin := buildStrand(t)
	stdout, stderr, code := runTail(t, bin, "--stream-arn", journalStreamARN, "--endpoint", node.URL(),
		"--kinesis-endpoint", emu.Endpoint, "--verify", "--no-follow", "--format", "json", "--limit", "2")
	if code != 0 || !strings.Contains(stderr, "verify: OK") {
		t.Fatalf("good stream: exit %d\nstderr:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != len(users) {
		t.Fatalf("printed %d records, the stream holds %d user records", len(lines), len(users))
	}
	for _, l := range lines {
		var rec struct{ RecordType string }
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec.RecordType == "" {
			t.Fatalf("not a JSON stream record (%v): %s", err, l)
		}
	}

	// The forged copy.
	missing := uint64(nBlocks / 2)
	var forged []ktypes.PutRecordsRequestEntry
	changed, dropped := false, false
	for _, u := range users {
		data := u.Data
		r, _ := record.Decode(data)
		switch {
		case r.Type == record.TypeBlockSummary && r.Block.Address.SequenceNo == missing:
			dropped = true
			continue
		case r.Type == record.TypeRevisionDetails && r.Revision.Revision.Data != nil && !changed:
			r.Revision.Revision.Data = r.Revision.Revision.Data.With("n", ionvalue.Int(999))
			if data, err = r.Encode(); err != nil {
				t.Fatal(err)
			}
			changed = true
		}
		forged = append(forged, ktypes.PutRecordsRequestEntry{Data: data, PartitionKey: u.PartitionKey})
	}
	if !changed || !dropped {
		t.Fatalf("nothing to forge (changed=%v dropped=%v)", changed, dropped)
	}
	for _, e := range forged { // one block summary delivered twice
		if r, _ := record.Decode(e.Data); r.Type == record.TypeBlockSummary {
			forged = append(forged, e)
			break
		}
	}
	kc := emu.Client
	put := func(entries []ktypes.PutRecordsRequestEntry) {
		t.Helper()
		res, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("forged"), Records: entries})
		if err != nil || aws.ToInt32(res.FailedRecordCount) != 0 {
			t.Fatalf("PutRecords: %v (%d failed)", err, aws.ToInt32(res.FailedRecordCount))
		}
	}
	active := func() {
		t.Helper()
		testenv.Await(t, 15*time.Second, func() error {
			d, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("forged")})
			if err != nil {
				return err
			}
			if s := d.StreamDescriptionSummary.StreamStatus; s != ktypes.StreamStatusActive {
				return fmt.Errorf("stream is %s", s)
			}
			return nil
		})
	}
	openShards := func() []string {
		t.Helper()
		out, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("forged")})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, sh := range out.Shards {
			if sh.SequenceNumberRange.EndingSequenceNumber == nil {
				ids = append(ids, aws.ToString(sh.ShardId))
			}
		}
		return ids
	}
	third := len(forged) / 3
	put(forged[:third])
	if _, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("forged"),
		ShardToSplit: aws.String(openShards()[0]), NewStartingHashKey: aws.String("170141183460469231731687303715884105728")}); err != nil {
		t.Fatal(err)
	}
	active()
	put(forged[third : 2*third])
	children := openShards()
	if len(children) != 2 {
		t.Fatalf("open shards after the split: %v", children)
	}
	if _, err := kc.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String("forged"),
		ShardToMerge: aws.String(children[0]), AdjacentShardToMerge: aws.String(children[1])}); err != nil {
		t.Fatal(err)
	}
	active()
	put(forged[2*third:])

	stdout, stderr, code = runTail(t, bin, "--kinesis-stream-arn", emu.StreamARN("forged"),
		"--kinesis-endpoint", emu.Endpoint, "--verify", "--no-follow", "--format", "json", "--limit", "2")
	if code != 1 {
		t.Fatalf("forged stream: exit %d, want 1\nstderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		fmt.Sprintf("gap: block %d is missing", missing),
		"does not recompute from its data and metadata",
		"verify: FAILED",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stderr, "duplicates delivered: 1 blocks, 0 revisions") {
		t.Errorf("duplicate not counted:\n%s", stderr)
	}
	t.Logf("stream tail --verify of the forged stream:\n%s", stderr)
	// Parents before children: the records put before the split come
	// first in put order, then those put into the two children (in any
	// interleaving), then those put after the merge, in put order.
	printed := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(printed) != len(forged) {
		t.Fatalf("printed %d records from the resharded stream, %d were put", len(printed), len(forged))
	}
	want := make([]string, len(forged))
	for i, e := range forged {
		if want[i], err = streamtail.FormatJSON(e.Data); err != nil {
			t.Fatal(err)
		}
	}
	sortedCopy := func(l []string) []string { c := slices.Clone(l); slices.Sort(c); return c }
	if !slices.Equal(printed[:third], want[:third]) || !slices.Equal(printed[2*third:], want[2*third:]) ||
		!slices.Equal(sortedCopy(printed[third:2*third]), sortedCopy(want[third:2*third])) {
		t.Errorf("records not read parent shard first:\nprinted:\n%s\nput:\n%s", strings.Join(printed, "\n"), strings.Join(want, "\n"))
	}
}

// lockedBuffer collects a process's output for a test to wait on.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStreamTailFollowLatest follows a live stream from --from latest:
// what was streamed before the tail started is not printed, a block
// committed after it caught up is, and Ctrl-C (SIGINT) ends it with the
// verification summary and exit status 0.
func TestStreamTailFollowLatest(t *testing.T) {
	emu := kinesisemu.StartKinesalite(t, kinesisemu.Stream("live", 1))
	node := servertest.Start(t, func(c *config.Config) {
		c.KinesisEndpoint = emu.Endpoint
		c.KinesisCredentials = credentials.NewStaticCredentialsProvider("AKIDKINESIS", "kinesis-secret", "")
	})
	node.CreateLedger("live")
	drv := node.Driver("live")
	servertest.Commit(t, drv, "CREATE TABLE t")
	servertest.Commit(t, drv, "INSERT INTO t VALUE {'when': 'before'}")
	qc := node.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	ctx := context.Background()
	if _, err := qc.StreamJournalToKinesis(ctx, &qldb.StreamJournalToKinesisInput{
		LedgerName: aws.String("live"), RoleArn: aws.String("arn:aws:iam::000000000000:role/qldb-stream"),
		StreamName: aws.String("live"), InclusiveStartTime: aws.Time(time.Now().Add(-time.Hour)),
		KinesisConfiguration: &qtypes.KinesisConfiguration{StreamArn: aws.String(emu.StreamARN("live"))},
	}); err != nil {
		t.Fatal(err)
	}
	testenv.Await(t, 30*time.Second, func() error {
		for _, u := range userRecords(t, emu, "live") {
			if bytes.Contains(u.Data, []byte("before")) {
				return nil
			}
		}
		return errors.New("the first insert is not streamed yet")
	})

	bin := buildStrand(t)
	cmd := exec.Command(bin, "stream", "tail", "--kinesis-stream-arn", emu.StreamARN("live"),
		"--kinesis-endpoint", emu.Endpoint, "--from", "latest", "--verify", "--format", "json", "--poll", "100ms")
	cmd.Env = shellEnv(t.TempDir())
	var stdout, stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	testenv.AwaitTrue(t, "the tail to catch up", 20*time.Second, func() bool {
		return strings.Contains(stderr.String(), "caught up with every shard")
	})
	servertest.Commit(t, drv, "INSERT INTO t VALUE {'when': 'after'}")
	testenv.AwaitTrue(t, "the new revision to be printed", 20*time.Second, func() bool {
		return strings.Contains(stdout.String(), `"when":"after"`)
	})
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v\nstderr:\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit after SIGINT")
	}
	if strings.Contains(stdout.String(), "before") {
		t.Errorf("--from latest printed a record streamed before the tail started:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "verify: OK") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}
