package faultproxy_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/strand-db/strand/internal/testenv/faultproxy"
	"github.com/strand-db/strand/internal/testenv/kinesisemu"
)

const stream = "journal"

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// setup starts kinesalite with a 2-shard stream and a proxy in front of it,
// and returns a client of the proxy that does not retry.
func setup(t *testing.T) (*kinesisemu.Emulator, *faultproxy.Proxy, *kinesis.Client) {
	t.Helper()
	e := kinesisemu.StartKinesalite(t, kinesisemu.Stream(stream, 2))
	p := faultproxy.Start(t, e.Endpoint)
	c := e.ClientFor(p.URL, func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
	return e, p, c
}

// stored returns the data of every record in the emulator's stream, read
// directly (not through the proxy), sorted.
func stored(t *testing.T, e *kinesisemu.Emulator, name string) []string {
	t.Helper()
	shards, err := e.ReadAll(testContext(t), name)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	var got []string
	for _, sh := range shards {
		for _, r := range sh.Records {
			got = append(got, string(r.Data))
		}
	}
	slices.Sort(got)
	return got
}

func putRecord(ctx context.Context, c *kinesis.Client, data string) error {
	_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{
		StreamName: aws.String(stream), PartitionKey: aws.String(data), Data: []byte(data),
	})
	return err
}

func entries(data ...string) []types.PutRecordsRequestEntry {
	out := make([]types.PutRecordsRequestEntry, len(data))
	for i, d := range data {
		out[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(d), Data: []byte(d)}
	}
	return out
}

func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func TestPassThrough(t *testing.T) {
	t.Parallel()
	e, p, c := setup(t)
	ctx := testContext(t)
	if err := putRecord(ctx, c, "a"); err != nil {
		t.Fatal(err)
	}
	out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries("b", "c")})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords: %v, FailedRecordCount %d", err, aws.ToInt32(out.FailedRecordCount))
	}
	if got := stored(t, e, stream); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("stored %q, want [a b c]", got)
	}
	s := p.Stats()
	if s.Requests != 2 || s.Forwarded != 2 || s.Failed != 0 || s.ByOperation["PutRecord"] != 1 || s.ByOperation["PutRecords"] != 1 {
		t.Errorf("stats %+v, want 2 requests forwarded (1 PutRecord, 1 PutRecords), none failed", s)
	}
}

func TestThrottleEvery(t *testing.T) {
	t.Parallel()
	e, p, c := setup(t)
	ctx := testContext(t)
	p.SetMode(faultproxy.ThrottleEvery(2))
	var codes []string
	for i := range 4 {
		err := putRecord(ctx, c, fmt.Sprint(i))
		codes = append(codes, errorCode(err))
		if err != nil {
			var pte *types.ProvisionedThroughputExceededException
			if !errors.As(err, &pte) || !strings.Contains(pte.ErrorMessage(), "Rate exceeded for shard") ||
				!strings.Contains(pte.ErrorMessage(), "in stream journal under account 000000000000") {
				t.Errorf("put %d: %v, want a ProvisionedThroughputExceededException naming the stream", i, err)
			}
		}
	}
	if want := []string{"", faultproxy.ErrThroughput, "", faultproxy.ErrThroughput}; !slices.Equal(codes, want) {
		t.Errorf("error codes %q, want %q", codes, want)
	}
	// Other operations are neither throttled nor counted.
	if _, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)}); err != nil {
		t.Errorf("ListShards while throttling puts: %v", err)
	}
	if err := putRecord(ctx, c, "4"); err != nil {
		t.Errorf("5th put: %v, want success", err)
	}
	// Throttled requests never reached the emulator.
	if got := stored(t, e, stream); !slices.Equal(got, []string{"0", "2", "4"}) {
		t.Errorf("stored %q, want [0 2 4]", got)
	}
	if s := p.Stats(); s.Requests != 6 || s.Failed != 2 || s.Forwarded != 4 {
		t.Errorf("stats %+v, want 6 requests, 2 failed, 4 forwarded", s)
	}

	// SetMode restarts the count.
	p.SetMode(faultproxy.ThrottleEvery(3))
	for i := range 3 {
		err := putRecord(ctx, c, "x")
		if (i == 2) != (err != nil) {
			t.Errorf("after SetMode(ThrottleEvery(3)), put %d: err = %v", i+1, err)
		}
	}
}

func TestThrottleRetriedBySDK(t *testing.T) {
	t.Parallel()
	e, p, _ := setup(t)
	// The standard retryer treats the error as a throttle and retries.
	c := e.ClientFor(p.URL)
	p.SetMode(faultproxy.ThrottleEvery(2))
	ctx := testContext(t)
	for i := range 3 {
		if err := putRecord(ctx, c, fmt.Sprint(i)); err != nil {
			t.Fatalf("put %d with retries: %v", i, err)
		}
	}
	if got := stored(t, e, stream); !slices.Equal(got, []string{"0", "1", "2"}) {
		t.Errorf("stored %q, want [0 1 2]", got)
	}
	if s := p.Stats(); s.Failed == 0 || s.Requests != s.Failed+3 {
		t.Errorf("stats %+v, want some throttled attempts and 3 forwarded", s)
	}

	// Throttling everything exhausts the retries.
	p.SetMode(faultproxy.ThrottleEvery(1))
	if err := putRecord(ctx, c, "never"); errorCode(err) != faultproxy.ErrThroughput {
		t.Errorf("put with every request throttled: %v, want %s", err, faultproxy.ErrThroughput)
	}
}

// checkPartial checks a PutRecords result against the positions that
// should have failed.
func checkPartial(t *testing.T, out *kinesis.PutRecordsOutput, failed ...int) {
	t.Helper()
	if got := int(aws.ToInt32(out.FailedRecordCount)); got != len(failed) {
		t.Errorf("FailedRecordCount = %d, want %d", got, len(failed))
	}
	for i, r := range out.Records {
		if slices.Contains(failed, i) {
			if aws.ToString(r.ErrorCode) != faultproxy.ErrThroughput || !strings.Contains(aws.ToString(r.ErrorMessage), "Rate exceeded") ||
				r.SequenceNumber != nil {
				t.Errorf("Records[%d] = {ErrorCode %q, ErrorMessage %q, SequenceNumber %v}, want a throughput error",
					i, aws.ToString(r.ErrorCode), aws.ToString(r.ErrorMessage), aws.ToString(r.SequenceNumber))
			}
		} else if r.ErrorCode != nil || r.SequenceNumber == nil || r.ShardId == nil {
			t.Errorf("Records[%d] = {ErrorCode %q, SequenceNumber %q}, want success",
				i, aws.ToString(r.ErrorCode), aws.ToString(r.SequenceNumber))
		}
	}
}

func TestFailEntries(t *testing.T) {
	t.Parallel()
	e, p, c := setup(t)
	ctx := testContext(t)
	p.SetMode(faultproxy.FailEntries(1, 4))
	out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{
		StreamName: aws.String(stream), Records: entries("e0", "e1", "e2", "e3", "e4", "e5"),
	})
	if err != nil {
		t.Fatalf("PutRecords: %v", err)
	}
	if len(out.Records) != 6 {
		t.Fatalf("%d results, want 6", len(out.Records))
	}
	checkPartial(t, out, 1, 4)
	// The sequence numbers spliced back belong to the records at their
	// positions.
	shards, err := e.ReadAll(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	bySeq := map[string]string{}
	for _, sh := range shards {
		for _, r := range sh.Records {
			bySeq[aws.ToString(r.SequenceNumber)] = string(r.Data)
		}
	}
	for i, r := range out.Records {
		if r.SequenceNumber != nil && bySeq[*r.SequenceNumber] != fmt.Sprintf("e%d", i) {
			t.Errorf("Records[%d] has the sequence number of %q", i, bySeq[*r.SequenceNumber])
		}
	}
	if got := stored(t, e, stream); !slices.Equal(got, []string{"e0", "e2", "e3", "e5"}) {
		t.Errorf("stored %q, want [e0 e2 e3 e5]: failed entries must not reach the emulator", got)
	}
	if s := p.Stats(); s.FailedEntries != 2 || s.Forwarded != 1 || s.Failed != 0 {
		t.Errorf("stats %+v, want 2 failed entries in 1 forwarded request", s)
	}

	// Index 0 applies to PutRecord too: the whole request fails.
	p.SetMode(faultproxy.FailEntries(0))
	if err := putRecord(ctx, c, "single"); errorCode(err) != faultproxy.ErrThroughput {
		t.Errorf("PutRecord with entry 0 failing: %v, want %s", err, faultproxy.ErrThroughput)
	}
}

func TestPartialFailurePredicateAndAllFailed(t *testing.T) {
	t.Parallel()
	e, p, c := setup(t)
	ctx := testContext(t)
	var (
		mu   sync.Mutex
		seen []faultproxy.Entry
	)
	p.SetMode(faultproxy.PartialFailure(func(en faultproxy.Entry) bool {
		mu.Lock()
		seen = append(seen, en)
		mu.Unlock()
		return strings.HasPrefix(string(en.Data), "bad")
	}))
	out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{
		StreamName: aws.String(stream), Records: entries("bad0", "ok1", "bad2"),
	})
	if err != nil {
		t.Fatalf("PutRecords: %v", err)
	}
	checkPartial(t, out, 0, 2)
	if len(seen) != 3 || seen[2].Request != 1 || seen[2].Index != 2 || seen[2].PartitionKey != "bad2" {
		t.Errorf("predicate saw %+v", seen)
	}

	// All entries failed: nothing is forwarded.
	before := p.Stats().Forwarded
	out, err = c.PutRecords(ctx, &kinesis.PutRecordsInput{
		StreamName: aws.String(stream), Records: entries("bad3", "bad4"),
	})
	if err != nil {
		t.Fatalf("PutRecords: %v", err)
	}
	checkPartial(t, out, 0, 1)
	if s := p.Stats(); s.Forwarded != before || s.FailedEntries != 4 {
		t.Errorf("stats %+v, want nothing more forwarded and 4 failed entries", s)
	}
	if got := stored(t, e, stream); !slices.Equal(got, []string{"ok1"}) {
		t.Errorf("stored %q, want [ok1]", got)
	}

	// Entries counted across requests.
	p.SetMode(faultproxy.FailEveryNthEntry(2))
	out, err = c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries("n0", "n1", "n2")})
	if err != nil {
		t.Fatal(err)
	}
	checkPartial(t, out, 1)
	out, err = c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries("n3", "n4")})
	if err != nil {
		t.Fatal(err)
	}
	checkPartial(t, out, 0)
}

func TestPartialFailureKinesisLocalByARN(t *testing.T) {
	t.Parallel()
	e := kinesisemu.StartKinesisLocal(t, kinesisemu.Stream(stream, 2))
	p := faultproxy.Start(t, e.Endpoint)
	c := e.ClientFor(p.URL, func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
	p.SetMode(faultproxy.FailEntries(0, 3))
	out, err := c.PutRecords(testContext(t), &kinesis.PutRecordsInput{
		StreamARN: aws.String(e.StreamARN(stream)), Records: entries("k0", "k1", "k2", "k3"),
	})
	if err != nil {
		t.Fatalf("PutRecords by ARN: %v", err)
	}
	checkPartial(t, out, 0, 3)
	for _, i := range []int{0, 3} {
		if msg := aws.ToString(out.Records[i].ErrorMessage); !strings.Contains(msg, "stream journal under account "+e.AccountID) {
			t.Errorf("Records[%d].ErrorMessage = %q, want the stream and account from the ARN", i, msg)
		}
	}
	if got := stored(t, e, stream); !slices.Equal(got, []string{"k1", "k2"}) {
		t.Errorf("stored %q, want [k1 k2]", got)
	}
}

func TestFailAll(t *testing.T) {
	t.Parallel()
	e, p, c := setup(t)
	ctx := testContext(t)

	p.SetMode(faultproxy.FailAll(400, "ResourceNotFoundException", "Stream journal under account 000000000000 not found."))
	_, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || !strings.Contains(nf.ErrorMessage(), "not found") {
		t.Errorf("DescribeStreamSummary: %v, want ResourceNotFoundException", err)
	}
	if err := putRecord(ctx, c, "x"); !errors.As(err, &nf) {
		t.Errorf("PutRecord: %v, want ResourceNotFoundException", err)
	}

	p.SetMode(faultproxy.FailAll(400, "AccessDeniedException", "User is not authorized"))
	if err := putRecord(ctx, c, "y"); errorCode(err) != "AccessDeniedException" {
		t.Errorf("PutRecord: %v, want AccessDeniedException", err)
	}
	if s := p.Stats(); s.Failed != 3 || s.Forwarded != 0 {
		t.Errorf("stats %+v, want 3 failed, none forwarded", s)
	}

	// Restricted to one operation.
	p.SetMode(faultproxy.FailAll(500, "InternalFailure", "boom").ForOperations(faultproxy.OpPutRecords))
	if _, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)}); err != nil {
		t.Errorf("ListShards: %v, want success", err)
	}
	_, err = c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries("z")})
	var resp interface{ HTTPStatusCode() int }
	if errorCode(err) != "InternalFailure" || !errors.As(err, &resp) || resp.HTTPStatusCode() != 500 {
		t.Errorf("PutRecords: %v, want InternalFailure with HTTP 500", err)
	}

	p.SetMode(faultproxy.PassThrough())
	if err := putRecord(ctx, c, "ok"); err != nil {
		t.Errorf("after PassThrough: %v", err)
	}
	if got := stored(t, e, stream); !slices.Equal(got, []string{"ok"}) {
		t.Errorf("stored %q, want [ok]", got)
	}
}

func TestDelayAndDisconnect(t *testing.T) {
	t.Parallel()
	_, p, c := setup(t)
	ctx := testContext(t)

	p.SetMode(faultproxy.Delay(300 * time.Millisecond))
	start := time.Now()
	if err := putRecord(ctx, c, "slow"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("delayed put took %v, want at least 300ms", d)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := putRecord(short, c, "timeout"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("put with a 50ms deadline through a 300ms delay: %v, want DeadlineExceeded", err)
	}

	// The abandoned request is still inside the proxy's delay; let it
	// finish before counting, so that it cannot land in the stats below.
	time.Sleep(400 * time.Millisecond)
	p.ResetStats()
	p.SetMode(faultproxy.Disconnect())
	err := putRecord(ctx, c, "cut")
	if err == nil || errorCode(err) != "" {
		t.Errorf("put through Disconnect: %v, want a transport error", err)
	}
	if s := p.Stats(); s.Failed != 1 {
		t.Errorf("stats %+v, want 1 failed", s)
	}
}

func TestUpstreamDown(t *testing.T) {
	t.Parallel()
	e, p, c := setup(t)
	e.Stop()
	_, err := c.ListStreams(testContext(t), &kinesis.ListStreamsInput{})
	if errorCode(err) != "InternalFailure" {
		t.Errorf("ListStreams with the emulator stopped: %v, want InternalFailure (HTTP 502)", err)
	}
	if s := p.Stats(); s.UpstreamErrors != 1 {
		t.Errorf("stats %+v, want 1 upstream error", s)
	}
}

func TestConcurrentModeChanges(t *testing.T) {
	t.Parallel()
	e, p, c := setup(t)
	ctx := testContext(t)
	modes := []faultproxy.Mode{
		faultproxy.PassThrough(), faultproxy.ThrottleEvery(2), faultproxy.FailEntries(1),
		faultproxy.FailAll(400, "AccessDeniedException", "no"), faultproxy.Delay(time.Millisecond),
	}
	const workers, calls = 8, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				p.SetMode(modes[(w+i)%len(modes)])
				_ = p.Mode().String()
				_, _ = c.PutRecords(ctx, &kinesis.PutRecordsInput{
					StreamName: aws.String(stream), Records: entries(fmt.Sprintf("w%d-%d-a", w, i), fmt.Sprintf("w%d-%d-b", w, i)),
				})
				_ = p.Stats()
			}
		})
	}
	wg.Wait()
	s := p.Stats()
	if s.Requests != workers*calls || s.ByOperation["PutRecords"] != workers*calls {
		t.Errorf("stats %+v, want %d PutRecords requests", s, workers*calls)
	}
	if s.Forwarded+s.Failed != s.Requests {
		t.Errorf("stats %+v: forwarded + failed != requests", s)
	}
	stored(t, e, stream) // the emulator is still consistent
	p.ResetStats()
	if s := p.Stats(); s.Requests != 0 || len(s.ByOperation) != 0 {
		t.Errorf("after ResetStats: %+v", s)
	}
}

func TestNewRejectsNonLoopbackTarget(t *testing.T) {
	for _, target := range []string{"http://example.invalid:4567", "ftp://127.0.0.1:21", "://bad"} {
		if p, err := faultproxy.New(target); err == nil {
			_ = p.Close()
			t.Errorf("New(%q) succeeded, want an error", target)
		}
	}
}
