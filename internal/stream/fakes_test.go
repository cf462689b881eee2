package stream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/awslabs/kinesis-aggregation/go/v2/deaggregator"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/store"
	"github.com/strand-db/strand/internal/store/memstore"
	"github.com/strand-db/strand/internal/stream"
	"github.com/strand-db/strand/internal/stream/record"
	"github.com/strand-db/strand/internal/testenv"
)

// This file holds the unit-test harness of the stream manager: a real
// journal.Log and ledger.Catalog over the in-memory store (memJournals),
// and a Kinesis client whose answers are scripted per call (scriptClient).

const (
	unitRegion  = "us-east-1"
	unitAccount = "123456789012"
	unitDest    = "arn:aws:kinesis:us-east-1:123456789012:stream/dest"
)

// memJournals is the journal of one ledger: a journal.Log over memstore,
// appended to directly (no transaction engine), as stream.Journals.
type memJournals struct {
	t      *testing.T
	st     store.Store
	ledger ledger.Entry
	log    *journal.Log
	docs   int
	// dataOf, when set, gives the data of the nth document revision
	// appended (nil: a deletion); default {k: n}.
	dataOf func(n int) *ionvalue.Value
}

func (j *memJournals) Journal(name string) (journal.Reader, error) {
	if name != j.ledger.Name {
		return nil, fmt.Errorf("no ledger %s", name)
	}
	return j.log, nil
}

// appendBlock appends and publishes a block holding a system revision and
// docs new document revisions, stamped now; it returns the sealed block.
func (j *memJournals) appendBlock(docs int) *journal.Block {
	j.t.Helper()
	batch := j.st.NewIndexedBatch()
	defer batch.Close()
	g := j.log.Begin(batch)
	defer g.End()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if last := g.LastTime(); !now.After(last) {
		now = last.Add(time.Millisecond)
	}
	tx := fmt.Sprintf("tx%d", g.Next())
	b := &journal.Block{
		Address: journal.BlockAddress{StrandID: g.StrandID(), SequenceNo: g.Next()}, TransactionID: tx, Timestamp: now,
		TransactionInfo: journal.TransactionInfo{Statements: []journal.StatementInfo{{Statement: "INSERT INTO T ?", StartTime: now, StatementDigest: make([]byte, 32)}}},
		Revisions:       []journal.Revision{{Hash: make([]byte, 32)}},
	}
	b.Revisions[0].Hash[0] = byte(g.Next() + 1)
	for i := 0; i < docs; i++ {
		j.docs++
		data := ionvalue.Struct(ionvalue.Field{Name: "k", Value: ionvalue.Int(int64(j.docs))})
		if j.dataOf != nil {
			data = j.dataOf(j.docs)
		}
		b.Revisions = append(b.Revisions, journal.Revision{
			Data:      data,
			Metadata:  journal.RevisionMetadata{ID: fmt.Sprintf("doc%05d", j.docs), TxTime: now, TxID: tx},
			TableName: "T", TableID: "tableid1",
		})
		b.TransactionInfo.Documents = append(b.TransactionInfo.Documents, journal.DocumentInfo{
			DocumentID: fmt.Sprintf("doc%05d", j.docs), TableName: "T", TableID: "tableid1", Statements: []int{0}})
	}
	b.Seal(g.Prev())
	if err := g.Append(b); err != nil {
		j.t.Fatal(err)
	}
	if err := g.Commit(); err != nil {
		j.t.Fatal(err)
	}
	g.Publish()
	return b
}

// unitWorld is a Manager over memstore with one ledger whose journal the
// test appends to, delivering through a scripted Kinesis client.
type unitWorld struct {
	t      *testing.T
	st     store.Store
	cat    *ledger.Catalog
	j      *memJournals
	kin    *scriptClient
	m      *stream.Manager
	closed bool
	// wrapJ and wrapC, when set before open, wrap the journals and the
	// client factory the Manager gets (to inject a fault or a pause).
	wrapJ func(stream.Journals) stream.Journals
	wrapC func(stream.ClientFactory) stream.ClientFactory
}

// newUnitWorld creates the ledger "led" and appends blocks of two
// documents each; the Manager is opened by open.
func newUnitWorld(t *testing.T, blocks int) *unitWorld {
	t.Helper()
	st := memstore.New(t.TempDir())
	cat, err := ledger.Open(st, ledger.Options{Region: unitRegion, AccountID: unitAccount, MaxLedgers: 5, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	l, err := cat.Create(ledger.CreateInput{Name: "led", PermissionsMode: ledger.PermissionsStandard}, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	log, err := journal.Open(st, nil, l.ID, l.Name, "strand1")
	if err != nil {
		t.Fatal(err)
	}
	w := &unitWorld{t: t, st: st, cat: cat, j: &memJournals{t: t, st: st, ledger: l, log: log}, kin: newScriptClient()}
	for i := 0; i < blocks; i++ {
		w.j.appendBlock(2)
	}
	t.Cleanup(w.close)
	return w
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// open (re)starts the Manager on the world's store.
func (w *unitWorld) open() {
	w.t.Helper()
	var j stream.Journals = w.j
	if w.wrapJ != nil {
		j = w.wrapJ(j)
	}
	var c stream.ClientFactory = w.kin
	if w.wrapC != nil {
		c = w.wrapC(c)
	}
	m, err := stream.Open(stream.Options{Region: unitRegion, AccountID: unitAccount, Clients: c, Journals: j,
		Ledgers: w.cat, Store: w.st, Logger: quietLogger(), RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond})
	if err != nil {
		w.t.Fatal(err)
	}
	w.m, w.closed = m, false
}

func (w *unitWorld) close() {
	if w.m != nil && !w.closed {
		w.closed = true
		w.m.Close()
	}
}

// create starts a stream named "s" from the ledger's beginning.
func (w *unitWorld) create(aggregation bool) string {
	w.t.Helper()
	return w.createNamed("s", aggregation)
}

func (w *unitWorld) createNamed(name string, aggregation bool) string {
	w.t.Helper()
	start := time.Now().Add(-time.Hour)
	id, err := w.m.Create(context.Background(), stream.CreateInput{LedgerName: "led", RoleARN: testRole, StreamName: name,
		Start: &start, StreamARN: unitDest, Aggregation: aws.Bool(aggregation)})
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

func (w *unitWorld) describe(id string) stream.Definition {
	w.t.Helper()
	d, err := w.m.Describe("led", id)
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

// unitWait bounds how long a unit test waits for the manager or a worker
// (a deadline for a failing test, not a timing assertion).
const unitWait = 4 * time.Second

func (w *unitWorld) waitDelivered(id string, n uint64) {
	w.t.Helper()
	testenv.AwaitTrue(w.t, fmt.Sprintf("%d blocks delivered", n), unitWait, func() bool { got, _ := w.m.Delivered(id); return got >= n })
}

func (w *unitWorld) waitStatus(id, status, cause string) {
	w.t.Helper()
	testenv.AwaitTrue(w.t, status+" "+cause, unitWait, func() bool { d := w.describe(id); return d.Status == status && d.ErrorCause == cause })
}

// putFunc answers one PutRecords call (n counts calls from 1). Returning
// nil, nil acknowledges every entry.
type putFunc func(ctx context.Context, n int, entries []types.PutRecordsRequestEntry) (*kinesis.PutRecordsOutput, error)

// scriptClient is a stream.KinesisAPI (and its ClientFactory) whose
// answers are scripted: put answers PutRecords, listErr fails ListShards,
// clientErr fails making a client. It records every entry sent and every
// entry acknowledged.
type scriptClient struct {
	mu        sync.Mutex
	put       putFunc
	listErr   error
	clientErr error
	shards    []types.Shard
	calls     int
	sent      [][]types.PutRecordsRequestEntry // per call
	acked     []types.PutRecordsRequestEntry
}

func newScriptClient() *scriptClient {
	return &scriptClient{shards: []types.Shard{
		{ShardId: aws.String("shardId-000000000000"), HashKeyRange: &types.HashKeyRange{
			StartingHashKey: aws.String("0"), EndingHashKey: aws.String("170141183460469231731687303715884105727")}},
		{ShardId: aws.String("shardId-000000000001"), HashKeyRange: &types.HashKeyRange{
			StartingHashKey: aws.String("170141183460469231731687303715884105728"), EndingHashKey: aws.String("340282366920938463463374607431768211455")}},
	}}
}

func (c *scriptClient) script(put putFunc, listErr, clientErr error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.put, c.listErr, c.clientErr = put, listErr, clientErr
}

func (c *scriptClient) Client(ctx context.Context, region, role string) (stream.KinesisAPI, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clientErr != nil {
		return nil, c.clientErr
	}
	return c, nil
}

func (c *scriptClient) ListShards(ctx context.Context, in *kinesis.ListShardsInput, opts ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.listErr != nil {
		return nil, c.listErr
	}
	return &kinesis.ListShardsOutput{Shards: c.shards}, nil
}

func (c *scriptClient) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	c.mu.Lock()
	c.calls++
	n, put := c.calls, c.put
	c.sent = append(c.sent, in.Records)
	c.mu.Unlock()
	var out *kinesis.PutRecordsOutput
	var err error
	if put != nil {
		out, err = put(ctx, n, in.Records)
	}
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(in.Records))}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range out.Records {
		if out.Records[i].ErrorCode == nil {
			out.Records[i].SequenceNumber = aws.String(fmt.Sprint(len(c.acked)))
			c.acked = append(c.acked, in.Records[i])
		}
	}
	return out, nil
}

func (c *scriptClient) putCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// delivered deaggregates and decodes every acknowledged entry.
func (c *scriptClient) delivered(t *testing.T) []*record.Record {
	t.Helper()
	c.mu.Lock()
	acked := append([]types.PutRecordsRequestEntry(nil), c.acked...)
	c.mu.Unlock()
	return decodeEntries(t, acked)
}

func decodeEntries(t *testing.T, entries []types.PutRecordsRequestEntry) []*record.Record {
	t.Helper()
	var out []*record.Record
	for _, e := range entries {
		users, err := deaggregator.DeaggregateRecords([]types.Record{{Data: e.Data, PartitionKey: e.PartitionKey}})
		if err != nil {
			t.Fatalf("deaggregate: %v", err)
		}
		for _, u := range users {
			r, err := record.Decode(u.Data)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			out = append(out, r)
		}
	}
	return out
}

// recordKey names a decoded record for counting.
func recordKey(r *record.Record) string {
	switch r.Type {
	case record.TypeControl:
		return "CONTROL " + r.ControlType
	case record.TypeBlockSummary:
		return fmt.Sprintf("BLOCK_SUMMARY %d", r.Block.Address.SequenceNo)
	case record.TypeRevisionDetails:
		return fmt.Sprintf("REVISION_DETAILS %d %s", r.Revision.Address.SequenceNo, r.Revision.Revision.Metadata.ID)
	}
	return "?"
}

// wantRecords is what a stream of the world's journal delivers for blocks
// [0, n): CREATED, then each block's summary and document revisions.
func (w *unitWorld) wantRecords(n uint64) map[string]int {
	w.t.Helper()
	want := map[string]int{"CONTROL CREATED": 1}
	for seq := uint64(0); seq < n; seq++ {
		b, ok, err := w.j.log.Block(seq)
		if err != nil || !ok {
			w.t.Fatalf("block %d: %v %v", seq, ok, err)
		}
		want[fmt.Sprintf("BLOCK_SUMMARY %d", seq)]++
		for _, r := range b.Revisions {
			if !r.IsSystem() {
				want[fmt.Sprintf("REVISION_DETAILS %d %s", seq, r.Metadata.ID)]++
			}
		}
	}
	return want
}

func countRecords(recs []*record.Record) map[string]int {
	got := map[string]int{}
	for _, r := range recs {
		got[recordKey(r)]++
	}
	return got
}

// sameCounts reports the first difference between two record counts.
func sameCounts(got, want map[string]int) error {
	for k, n := range want {
		if got[k] != n {
			return fmt.Errorf("%s delivered %d times, want %d", k, got[k], n)
		}
	}
	for k, n := range got {
		if want[k] == 0 {
			return fmt.Errorf("%s delivered %d times, want none", k, n)
		}
	}
	return nil
}

// Kinesis errors as the SDK returns them.
var (
	errThrottled = &types.ProvisionedThroughputExceededException{Message: aws.String("Rate exceeded for stream dest")}
	errNotFound  = &types.ResourceNotFoundException{Message: aws.String("Stream dest not found")}
	errDenied    = &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User is not authorized to perform kinesis:PutRecords"}
	errInternal  = errors.New("connection reset by peer")
)
