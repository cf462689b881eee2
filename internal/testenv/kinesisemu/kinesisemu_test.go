package kinesisemu

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// maxHashKey is 2^128-1, the last hash key.
var maxHashKey = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// putAndReadBack puts records with partition keys and explicit hash keys at
// both ends of the key space into a 2-shard stream, then checks that ReadAll
// returns each record once, on the shard whose range holds its hash key, in
// the order put.
func putAndReadBack(t *testing.T, e *Emulator, stream string, byARN bool) {
	ctx := testContext(t)
	name, arn := aws.String(stream), (*string)(nil)
	if byARN {
		name, arn = nil, aws.String(e.StreamARN(stream))
	}
	type rec struct {
		pk, ehk, data string
	}
	want := []rec{
		{"pk-a", "", "one"},
		{"pk-b", "", "two"},
		{"zzz", "0", "three"},
		{"zzz", maxHashKey.String(), "four"},
	}
	entries := make([]types.PutRecordsRequestEntry, len(want))
	for i, r := range want {
		entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(r.pk), Data: []byte(r.data)}
		if r.ehk != "" {
			entries[i].ExplicitHashKey = aws.String(r.ehk)
		}
	}
	out, err := e.Client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: name, StreamARN: arn, Records: entries})
	if err != nil {
		t.Fatalf("PutRecords: %v", err)
	}
	if got := aws.ToInt32(out.FailedRecordCount); got != 0 {
		t.Fatalf("PutRecords: FailedRecordCount = %d, want 0", got)
	}
	single, err := e.Client.PutRecord(ctx, &kinesis.PutRecordInput{
		StreamName: name, StreamARN: arn, PartitionKey: aws.String("single"), Data: []byte("five"),
	})
	if err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	want = append(want, rec{"single", "", "five"})

	shards, err := e.ReadAll(ctx, stream)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if len(shards) != 2 {
		t.Fatalf("ReadAll returned %d shards, want 2", len(shards))
	}
	if shards[0].StartingHashKey != "0" || shards[1].EndingHashKey != maxHashKey.String() {
		t.Errorf("hash-key ranges %s..%s, %s..%s do not cover the key space",
			shards[0].StartingHashKey, shards[0].EndingHashKey, shards[1].StartingHashKey, shards[1].EndingHashKey)
	}
	seen := 0
	for _, sh := range shards {
		var got []string
		for _, r := range sh.Records {
			got = append(got, string(r.Data))
		}
		var exp []string
		for _, r := range want {
			h := PartitionKeyHash(r.pk)
			if r.ehk != "" {
				h, _ = new(big.Int).SetString(r.ehk, 10)
			}
			if sh.Contains(h) {
				exp = append(exp, r.data)
			}
		}
		if !slices.Equal(got, exp) {
			t.Errorf("shard %s (%s..%s): records %q, want %q", sh.ShardID, sh.StartingHashKey, sh.EndingHashKey, got, exp)
		}
		seen += len(got)
		if single.ShardId != nil && aws.ToString(single.ShardId) == sh.ShardID && !slices.Contains(got, "five") {
			t.Errorf("PutRecord reported shard %s, but the record is not there", sh.ShardID)
		}
	}
	if seen != len(want) {
		t.Errorf("read %d records, want %d", seen, len(want))
	}
}

func checkARN(t *testing.T, e *Emulator, stream string) {
	t.Helper()
	out, err := e.Client.DescribeStreamSummary(testContext(t), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatalf("DescribeStreamSummary: %v", err)
	}
	s := out.StreamDescriptionSummary
	if got := aws.ToString(s.StreamARN); got != e.StreamARN(stream) {
		t.Errorf("emulator's ARN %q, StreamARN() = %q", got, e.StreamARN(stream))
	}
	if s.StreamStatus != types.StreamStatusActive {
		t.Errorf("stream status %s, want ACTIVE", s.StreamStatus)
	}
}

func TestKinesalitePutAndReadAll(t *testing.T) {
	t.Parallel()
	e := StartKinesalite(t, Stream("journal", 2), Stream("other", 1))
	if !strings.HasPrefix(e.Endpoint, "http://127.0.0.1:") {
		t.Errorf("Endpoint = %q, want a loopback URL", e.Endpoint)
	}
	list, err := e.Client.ListStreams(testContext(t), &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatalf("ListStreams: %v", err)
	}
	if !slices.Equal(list.StreamNames, []string{"journal", "other"}) {
		t.Errorf("streams %q, want [journal other]", list.StreamNames)
	}
	checkARN(t, e, "journal")
	putAndReadBack(t, e, "journal", false)
}

func TestKinesaliteRejectsStreamARNOnly(t *testing.T) {
	t.Parallel()
	e := StartKinesalite(t, Stream("journal", 1))
	_, err := e.Client.PutRecord(testContext(t), &kinesis.PutRecordInput{
		StreamARN: aws.String(e.StreamARN("journal")), PartitionKey: aws.String("k"), Data: []byte("x"),
	})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ValidationException" {
		t.Fatalf("PutRecord with only StreamARN: err = %v, want ValidationException "+
			"(if kinesalite learnt StreamARN, update the package doc)", err)
	}
}

func TestReadAllPages(t *testing.T) {
	t.Parallel()
	e := StartKinesalite(t, Stream("paged", 1))
	e.ReadPageLimit = 3
	ctx := testContext(t)
	var want []string
	for i := range 10 {
		d := fmt.Sprintf("r%02d", i)
		want = append(want, d)
		if _, err := e.Client.PutRecord(ctx, &kinesis.PutRecordInput{
			StreamName: aws.String("paged"), PartitionKey: aws.String(d), Data: []byte(d),
		}); err != nil {
			t.Fatalf("PutRecord: %v", err)
		}
	}
	shards, err := e.ReadAll(ctx, "paged")
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if len(shards) != 1 {
		t.Fatalf("%d shards, want 1", len(shards))
	}
	var got []string
	for _, r := range shards[0].Records {
		got = append(got, string(r.Data))
	}
	if !slices.Equal(got, want) {
		t.Errorf("records %q, want %q", got, want)
	}
}

func TestCreateAndDeleteStream(t *testing.T) {
	t.Parallel()
	e := StartKinesalite(t)
	ctx := testContext(t)
	if err := e.CreateStream(ctx, "s3", 3); err != nil {
		t.Fatal(err)
	}
	shards, err := e.ReadAll(ctx, "s3")
	if err != nil || len(shards) != 3 {
		t.Fatalf("ReadAll: %d shards, err %v; want 3 shards", len(shards), err)
	}
	if err := e.DeleteStream(ctx, "s3"); err != nil {
		t.Fatal(err)
	}
	_, err = e.ReadAll(ctx, "s3")
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("ReadAll after DeleteStream: err = %v, want ResourceNotFoundException", err)
	}
}

func readData(t *testing.T, e *Emulator, stream string) []string {
	t.Helper()
	shards, err := e.ReadAll(testContext(t), stream)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	var got []string
	for _, sh := range shards {
		for _, r := range sh.Records {
			got = append(got, string(r.Data))
		}
	}
	return got
}

func putOne(t *testing.T, e *Emulator, stream, data string) {
	t.Helper()
	if _, err := e.Client.PutRecord(testContext(t), &kinesis.PutRecordInput{
		StreamName: aws.String(stream), PartitionKey: aws.String("k"), Data: []byte(data),
	}); err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
}

func TestKinesaliteRestartWithPersistence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := Start(t, Kinesalite, WithPersistence(dir), WithStreams(Stream("journal", 1)))
	putOne(t, e, "journal", "before")
	endpoint := e.Endpoint
	e.Restart()
	if e.Endpoint != endpoint {
		t.Errorf("Endpoint changed from %s to %s", endpoint, e.Endpoint)
	}
	putOne(t, e, "journal", "after")
	if got := readData(t, e, "journal"); !slices.Equal(got, []string{"before", "after"}) {
		t.Errorf("after restart: records %q, want [before after]", got)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) == 0 {
		t.Errorf("persistence dir %s is empty (err %v)", dir, err)
	}
}

func TestKinesaliteRestartWithoutPersistence(t *testing.T) {
	t.Parallel()
	e := StartKinesalite(t, Stream("journal", 1))
	putOne(t, e, "journal", "lost")
	e.Restart()
	if got := readData(t, e, "journal"); len(got) != 0 {
		t.Errorf("after restart without persistence: records %q, want none", got)
	}
}

func TestStopMakesRequestsFail(t *testing.T) {
	t.Parallel()
	e := StartKinesalite(t, Stream("journal", 1))
	e.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c := e.ClientFor(e.Endpoint, func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
	if _, err := c.ListStreams(ctx, &kinesis.ListStreamsInput{}); err == nil {
		t.Fatal("ListStreams on a stopped emulator succeeded")
	}
	e.Restart()
	putOne(t, e, "journal", "back")
}

func TestCleanupStopsProcess(t *testing.T) {
	t.Parallel()
	var pid int
	t.Run("inner", func(t *testing.T) {
		e := StartKinesalite(t)
		pid = e.proc.cmd.Process.Pid
		if err := syscall.Kill(pid, 0); err != nil {
			t.Fatalf("emulator process %d not running: %v", pid, err)
		}
	})
	// The cleanup reaped the process, so its ID is free (or reused by an
	// unrelated process, which is unlikely within a test).
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("emulator process %d still exists after cleanup (kill -0: %v)", pid, err)
	}
}

// abortRequest sends the start of a PutRecords request to e and hangs up in
// the middle of its body, as a client whose context is cancelled does; then
// it checks that the emulator still answers.
func abortRequest(t *testing.T, e *Emulator) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.Endpoint, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-amz-json-1.1\r\n"+
		"X-Amz-Target: Kinesis_20131202.PutRecords\r\nX-Amz-Date: 20200101T000000Z\r\n"+
		"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20200101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=00\r\n"+
		"Content-Length: 1000\r\n\r\n{\"StreamName\":", e.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the server start reading the body
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := e.Client.ListStreams(testContext(t), &kinesis.ListStreamsInput{}); err != nil {
		t.Fatalf("after an aborted request: %v\nemulator output:\n%s", err, e.Log())
	}
}

func TestKinesaliteSurvivesAbortedRequest(t *testing.T) {
	t.Parallel()
	e := StartKinesalite(t, Stream("journal", 1))
	for range 3 {
		abortRequest(t, e)
	}
	putOne(t, e, "journal", "still here")
}

func TestKinesisLocalStreamARNAddressing(t *testing.T) {
	t.Parallel()
	e := StartKinesisLocal(t, Stream("journal", 2))
	abortRequest(t, e)
	checkARN(t, e, "journal")
	putAndReadBack(t, e, "journal", true)

	// Every data-plane call by ARN alone.
	ctx := testContext(t)
	arn := aws.String(e.StreamARN("journal"))
	ls, err := e.Client.ListShards(ctx, &kinesis.ListShardsInput{StreamARN: arn})
	if err != nil || len(ls.Shards) != 2 {
		t.Fatalf("ListShards by ARN: %d shards, err %v", len(ls.Shards), err)
	}
	total := 0
	for _, sh := range ls.Shards {
		it, err := e.Client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamARN: arn, ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatalf("GetShardIterator by ARN: %v", err)
		}
		res, err := e.Client.GetRecords(ctx, &kinesis.GetRecordsInput{StreamARN: arn, ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatalf("GetRecords by ARN: %v", err)
		}
		total += len(res.Records)
	}
	if total != 5 {
		t.Errorf("read %d records by ARN, want 5", total)
	}

	// An ARN in another account names another stream.
	other := strings.Replace(*arn, ":"+e.AccountID+":", ":123456789012:", 1)
	_, err = e.Client.PutRecord(ctx, &kinesis.PutRecordInput{StreamARN: &other, PartitionKey: aws.String("k"), Data: []byte("x")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("PutRecord to %s: err = %v, want ResourceNotFoundException", other, err)
	}
}

func TestKinesisLocalRegionAccountAndRestart(t *testing.T) {
	t.Parallel()
	e := Start(t, KinesisLocal,
		WithRegion("eu-west-1"), WithAccountID("111122223333"),
		WithPersistence(t.TempDir()), WithStreams(Stream("journal", 1)))
	checkARN(t, e, "journal")
	putOne(t, e, "journal", "before")
	start := time.Now()
	e.Restart()
	t.Logf("Restart took %v", time.Since(start))
	putOne(t, e, "journal", "after")
	if got := readData(t, e, "journal"); !slices.Equal(got, []string{"before", "after"}) {
		t.Errorf("after restart: records %q, want [before after]", got)
	}
}

func TestMissingPackagesMessage(t *testing.T) {
	root := t.TempDir()
	for _, k := range []Kind{Kinesalite, KinesisLocal} {
		err := checkInstalled(root, k)
		if err == nil || !strings.Contains(err.Error(), "scripts/test.sh") {
			t.Errorf("checkInstalled(%v) in an empty tree: %v, want an error naming scripts/test.sh", k, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, NodeModules, "kinesalite"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, NodeModules, "kinesalite", "index.js"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkInstalled(root, Kinesalite); err != nil {
		t.Errorf("checkInstalled with kinesalite present: %v", err)
	}
}

func TestPartitionKeyHash(t *testing.T) {
	// MD5("") = d41d8cd98f00b204e9800998ecf8427e.
	want, _ := new(big.Int).SetString("d41d8cd98f00b204e9800998ecf8427e", 16)
	if got := PartitionKeyHash(""); got.Cmp(want) != 0 {
		t.Errorf("PartitionKeyHash(\"\") = %x, want %x", got, want)
	}
}
