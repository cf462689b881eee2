package bench

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/stream/kpl"
	"github.com/strand-db/strand/internal/stream/record"
)

// TestAckProxyRecordsAcknowledgedBlocks is the short form of the live
// stream bench (the whole scenario runs in cmd/strand's
// TestBenchStreamSmoke with STRAND_LONG=1): the recording proxy forwards a
// PutRecords request and its answer unchanged, and records the blocks of
// the entries the answer acknowledged (inside a KPL aggregate too), not
// those of a failed entry.
func TestAckProxyRecordsAcknowledgedBlocks(t *testing.T) {
	const answer = `{"FailedRecordCount":1,"Records":[{"SequenceNumber":"1","ShardId":"shardId-000000000000"},` +
		`{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded"}]}`
	var forwarded []byte
	emu := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forwarded, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, answer)
	}))
	defer emu.Close()
	p, err := newAckProxy(emu.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()

	const arn = "arn:aws:qldb:us-east-1:123456789012:stream/led/0123456789abcdefghijkl"
	summary := func(tx string, seq uint64) kpl.UserRecord {
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		b := &journal.Block{Address: journal.BlockAddress{StrandID: "strand1", SequenceNo: seq}, TransactionID: tx, Timestamp: now,
			TransactionInfo: journal.TransactionInfo{Statements: []journal.StatementInfo{{Statement: "INSERT INTO T ?", StartTime: now, StatementDigest: make([]byte, 32)}},
				Documents: []journal.DocumentInfo{{DocumentID: "doc1", TableName: "T", TableID: "tid", Statements: []int{0}}}},
			Revisions: []journal.Revision{{Data: ionvalue.Struct(ionvalue.Field{Name: "k", Value: ionvalue.Int(1)}),
				Metadata: journal.RevisionMetadata{ID: "doc1", TxTime: now, TxID: tx}, TableName: "T", TableID: "tid"}}}
		b.Seal(make([]byte, 32))
		data, err := record.EncodeBlockSummary(arn, b)
		if err != nil {
			t.Fatal(err)
		}
		return kpl.UserRecord{PartitionKey: record.BlockSummaryPartitionKey(b), Data: data}
	}
	shards, err := kpl.NewShardMap([]ktypes.Shard{{ShardId: aws.String("shardId-000000000000"), HashKeyRange: &ktypes.HashKeyRange{
		StartingHashKey: aws.String("0"), EndingHashKey: aws.String("340282366920938463463374607431768211455")}}})
	if err != nil {
		t.Fatal(err)
	}
	agg, err := kpl.NewAggregator(shards, kpl.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for i, tx := range []string{"txA1", "txA2"} {
		if _, err := agg.Add(summary(tx, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	aggregated, err := agg.Flush()
	if err != nil || len(aggregated) != 1 {
		t.Fatalf("aggregate: %v %v", aggregated, err)
	}
	failed := summary("txB", 2)
	type entry struct {
		Data            []byte
		PartitionKey    string
		ExplicitHashKey string `json:",omitempty"`
	}
	body, _ := json.Marshal(map[string]any{"StreamName": "live", "Records": []entry{
		{Data: aggregated[0].Data, PartitionKey: aggregated[0].PartitionKey, ExplicitHashKey: aggregated[0].ExplicitHashKey},
		{Data: failed.Data, PartitionKey: failed.PartitionKey},
	}})
	req, _ := http.NewRequest(http.MethodPost, p.url()+"/", bytes.NewReader(body))
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecords")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(got) != answer || !bytes.Equal(forwarded, body) {
		t.Fatalf("not forwarded unchanged: status %d, answer %s", resp.StatusCode, got)
	}
	acked, puts := p.snapshot()
	times, err := blockTimes(acked)
	if err != nil {
		t.Fatal(err)
	}
	if puts != 1 || len(times) != 2 {
		t.Fatalf("%d PutRecords, blocks %v; want 1 and txA1, txA2", puts, times)
	}
	for _, tx := range []string{"txA1", "txA2"} {
		if _, ok := times[tx]; !ok {
			t.Errorf("acknowledged block of %s not recorded", tx)
		}
	}
}
