package stream_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/strand-db/strand/internal/stream"
	"github.com/strand-db/strand/internal/testenv"
)

// TestUnitCleanRunDeliversEveryRecordOnce streams a journal to a Kinesis
// that accepts everything, with and without KPL aggregation: CREATED, every
// block's BLOCK_SUMMARY and every document's REVISION_DETAILS arrive
// exactly once, including a block appended while the stream runs, and the
// checkpoint covers them all.
func TestUnitCleanRunDeliversEveryRecordOnce(t *testing.T) {
	for _, agg := range []bool{true, false} {
		t.Run(fmt.Sprintf("aggregation=%v", agg), func(t *testing.T) {
			w := newUnitWorld(t, 3)
			w.open()
			id := w.create(agg)
			w.waitDelivered(id, 3)
			w.j.appendBlock(3)
			w.waitDelivered(id, 4)
			if err := sameCounts(countRecords(w.kin.delivered(t)), w.wantRecords(4)); err != nil {
				t.Fatal(err)
			}
			if d := w.describe(id); d.Status != stream.StatusActive {
				t.Fatalf("status %s %s, want ACTIVE", d.Status, d.ErrorCause)
			}
		})
	}
}

// TestUnitOnlyFailedEntriesRetried fails every other entry of the first
// PutRecords call: the second call carries exactly those entries, and
// every record is acknowledged once.
func TestUnitOnlyFailedEntriesRetried(t *testing.T) {
	w := newUnitWorld(t, 3)
	w.kin.script(func(_ context.Context, n int, entries []types.PutRecordsRequestEntry) (*kinesis.PutRecordsOutput, error) {
		if n != 1 {
			return nil, nil
		}
		out := &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(entries)), FailedRecordCount: aws.Int32(0)}
		for i := 1; i < len(entries); i += 2 {
			code := "InternalFailure"
			if i%4 == 1 {
				code = "ProvisionedThroughputExceededException"
			}
			out.Records[i].ErrorCode, out.Records[i].ErrorMessage = aws.String(code), aws.String("scripted")
			*out.FailedRecordCount++
		}
		return out, nil
	}, nil, nil)
	w.open()
	id := w.create(false)
	w.waitDelivered(id, 3)

	w.kin.mu.Lock()
	sent := w.kin.sent
	w.kin.mu.Unlock()
	if len(sent) < 2 || len(sent[0]) < 2 {
		t.Fatalf("%d PutRecords calls; want a first call of several entries and a retry", len(sent))
	}
	var failed []types.PutRecordsRequestEntry
	for i := 1; i < len(sent[0]); i += 2 {
		failed = append(failed, sent[0][i])
	}
	if len(sent[1]) != len(failed) {
		t.Fatalf("retry sent %d entries, want the %d that failed", len(sent[1]), len(failed))
	}
	for i := range failed {
		if string(sent[1][i].Data) != string(failed[i].Data) || *sent[1][i].PartitionKey != *failed[i].PartitionKey {
			t.Fatalf("retry entry %d is not failed entry %d", i, i)
		}
	}
	if err := sameCounts(countRecords(w.kin.delivered(t)), w.wantRecords(3)); err != nil {
		t.Fatal(err)
	}
}

// TestUnitThrottlingRetriesThenActive throttles whole requests a few
// times: the worker retries, the stream is never impaired for it, and every
// record is delivered once.
func TestUnitThrottlingRetriesThenActive(t *testing.T) {
	w := newUnitWorld(t, 3)
	const throttled = 4
	w.kin.script(func(_ context.Context, n int, _ []types.PutRecordsRequestEntry) (*kinesis.PutRecordsOutput, error) {
		if n <= throttled {
			return nil, errThrottled
		}
		return nil, nil
	}, nil, nil)
	w.open()
	id := w.create(true)
	impaired := false
	testenv.AwaitTrue(t, "delivery", unitWait, func() bool {
		if w.describe(id).Status != stream.StatusActive {
			impaired = true
		}
		got, _ := w.m.Delivered(id)
		return got >= 3
	})
	if impaired {
		t.Fatal("throttling impaired the stream")
	}
	if n := w.kin.putCalls(); n <= throttled {
		t.Fatalf("%d PutRecords calls, want more than the %d throttled", n, throttled)
	}
	if err := sameCounts(countRecords(w.kin.delivered(t)), w.wantRecords(3)); err != nil {
		t.Fatal(err)
	}
	if d := w.describe(id); d.Status != stream.StatusActive {
		t.Fatalf("status %s %s, want ACTIVE", d.Status, d.ErrorCause)
	}
}

// TestUnitImpairedCausesAndRecovery makes Kinesis answer ResourceNotFound,
// then AccessDenied, and finally a missing credential: the stream shows
// IMPAIRED with QLDB's cause for each, its checkpoint does not move, and
// once the destination recovers it is ACTIVE and delivers every record
// once.
func TestUnitImpairedCausesAndRecovery(t *testing.T) {
	credErr := &stream.CredentialsError{Err: fmt.Errorf("no credential provider configured")}
	cases := []struct {
		name   string
		agg    bool
		put    error // PutRecords error
		list   error // ListShards error, after Create validated the destination
		client error // error making a client, after Create made one
		cause  string
	}{
		{"put-not-found", false, errNotFound, nil, nil, stream.CauseNotFound},
		{"not-found-aggregated", true, errNotFound, errNotFound, nil, stream.CauseNotFound},
		{"put-access-denied", false, errDenied, nil, nil, stream.CausePermission},
		// Credentials that fail inside a put (the SDK's provider, see
		// guardedCredentials) drop the client; the retry makes a new one.
		{"credentials-fail-in-put", false, credErr, nil, nil, stream.CausePermission},
		{"no-credentials", false, credErr, nil, credErr, stream.CausePermission},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newUnitWorld(t, 3)
			w.open()
			// Create validates the destination with ListShards and a
			// client, so ListShards and the client fail only after it; the
			// puts fail from the start.
			failPut := func(context.Context, int, []types.PutRecordsRequestEntry) (*kinesis.PutRecordsOutput, error) {
				return nil, tc.put
			}
			w.kin.script(failPut, nil, nil)
			id := w.create(tc.agg)
			w.kin.script(failPut, tc.list, tc.client)
			if tc.client == nil && tc.list == nil {
				// Only the puts fail: several retries, not one.
				testenv.AwaitTrue(t, "retried puts", unitWait, func() bool { return w.kin.putCalls() >= 3 })
			}
			w.waitStatus(id, stream.StatusImpaired, tc.cause)
			if got, _ := w.m.Delivered(id); got != 0 {
				t.Fatalf("checkpoint at %d while nothing was acknowledged", got)
			}
			w.kin.script(nil, nil, nil)
			w.waitDelivered(id, 3)
			w.waitStatus(id, stream.StatusActive, "")
			if err := sameCounts(countRecords(w.kin.delivered(t)), w.wantRecords(3)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestUnitCheckpointOnlyAfterAck fails every put: the stored checkpoint
// stays at the stream's start. A Manager reopened on the same store with a
// working Kinesis re-sends everything, CREATED included.
func TestUnitCheckpointOnlyAfterAck(t *testing.T) {
	w := newUnitWorld(t, 3)
	w.kin.script(func(_ context.Context, _ int, entries []types.PutRecordsRequestEntry) (*kinesis.PutRecordsOutput, error) {
		// Half the time the whole request fails, half the time every entry.
		out := &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(entries)), FailedRecordCount: aws.Int32(int32(len(entries)))}
		for i := range out.Records {
			out.Records[i].ErrorCode, out.Records[i].ErrorMessage = aws.String("InternalFailure"), aws.String("scripted")
		}
		return out, nil
	}, nil, nil)
	w.open()
	id := w.create(true)
	testenv.AwaitTrue(t, "retries", unitWait, func() bool {
		if got, _ := w.m.Delivered(id); got != 0 {
			t.Fatalf("checkpoint moved to %d while every put failed", got)
		}
		return w.kin.putCalls() >= 10
	})
	if got, ok := w.m.Delivered(id); !ok || got != 0 {
		t.Fatalf("checkpoint %d (stored %v) before any acknowledgement, want 0", got, ok)
	}
	w.close()
	if got, _ := w.m.Delivered(id); got != 0 {
		t.Fatalf("checkpoint %d after close, want 0", got)
	}
	if n := len(w.kin.delivered(t)); n != 0 {
		t.Fatalf("%d records acknowledged by a Kinesis that failed everything", n)
	}

	w.kin.script(nil, nil, nil)
	w.open()
	w.waitDelivered(id, 3)
	if err := sameCounts(countRecords(w.kin.delivered(t)), w.wantRecords(3)); err != nil {
		t.Fatal(err)
	}
}

// TestUnitCancelEndsWorker cancels a stream whose put hangs: Cancel ends
// the put (its context is canceled) and the worker, the stream is CANCELED
// with nothing checkpointed, and no put starts afterwards.
func TestUnitCancelEndsWorker(t *testing.T) {
	w := newUnitWorld(t, 2)
	ended := make(chan struct{})
	w.kin.script(func(ctx context.Context, _ int, _ []types.PutRecordsRequestEntry) (*kinesis.PutRecordsOutput, error) {
		<-ctx.Done()
		select {
		case <-ended:
		default:
			close(ended)
		}
		return nil, ctx.Err()
	}, nil, nil)
	w.open()
	id := w.create(false)
	testenv.AwaitTrue(t, "the first put", unitWait, func() bool { return w.kin.putCalls() > 0 })
	if err := w.m.Cancel("led", id); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ended:
	default:
		t.Fatal("Cancel returned while a put was still running")
	}
	calls := w.kin.putCalls()
	if d := w.describe(id); d.Status != stream.StatusCanceled || d.EndedAt == nil {
		t.Fatalf("status %s (ended %v), want CANCELED", d.Status, d.EndedAt)
	}
	if got, _ := w.m.Delivered(id); got != 0 {
		t.Fatalf("checkpoint %d, want 0", got)
	}
	// A block committed after Cancel wakes no worker; a Manager reopened
	// on the store starts none either (CANCELED is terminal).
	w.kin.script(nil, nil, nil)
	w.j.appendBlock(1)
	w.close()
	w.open()
	if d := w.describe(id); d.Status != stream.StatusCanceled {
		t.Fatalf("status after reopen %s, want CANCELED", d.Status)
	}
	w.close()
	if n := w.kin.putCalls(); n != calls {
		t.Fatalf("%d PutRecords calls after Cancel", n-calls)
	}
}
