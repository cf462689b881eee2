package kpl

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/awslabs/kinesis-aggregation/go/v2/deaggregator"
	"github.com/awslabs/kinesis-aggregation/go/v2/records"
	"github.com/golang/protobuf/proto"
)

// key returns a QLDB-style partition key (64 lowercase hex).
func key(i int) string {
	h := sha256.Sum256([]byte(fmt.Sprint("k", i)))
	return hex.EncodeToString(h[:])
}

func newAgg(t testing.TB, m *ShardMap, cfg Config) *Aggregator {
	t.Helper()
	a, err := NewAggregator(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// run adds every record and flushes, returning all output in order.
func run(t testing.TB, a *Aggregator, in []UserRecord) []Record {
	t.Helper()
	var out []Record
	for _, r := range in {
		recs, err := a.Add(r)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recs...)
	}
	recs, err := a.Flush()
	if err != nil {
		t.Fatal(err)
	}
	if a.Pending() != 0 {
		t.Fatalf("%d records pending after Flush", a.Pending())
	}
	return append(out, recs...)
}

// TestReaggregateCapturedExactly feeds the user records of real QLDB
// aggregates through the Aggregator (one shard, as in the captures) and
// expects the captured Kinesis record bytes.
func TestReaggregateCapturedExactly(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) != 3 {
		t.Fatalf("found %d captured events, want 3", len(files))
	}
	m := mustMap(t, evenShards(1))
	for _, fn := range files {
		raw, err := os.ReadFile(fn)
		if err != nil {
			t.Fatal(err)
		}
		var ev struct {
			Records []struct {
				Kinesis struct{ PartitionKey, Data string }
			}
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		for _, kr := range ev.Records {
			data, _ := base64.StdEncoding.DecodeString(kr.Kinesis.Data)
			users, err := deaggregator.DeaggregateRecords([]types.Record{{Data: data, PartitionKey: aws.String(kr.Kinesis.PartitionKey)}})
			if err != nil || len(users) < 2 {
				t.Fatalf("%s: deaggregate: %d records, %v", fn, len(users), err)
			}
			var in []UserRecord
			for i, u := range users {
				in = append(in, UserRecord{PartitionKey: *u.PartitionKey, Data: u.Data, Seq: uint64(i)})
			}
			out := run(t, newAgg(t, m, Config{}), in)
			if len(out) != 1 {
				t.Fatalf("%s: %d output records, want 1", fn, len(out))
			}
			if out[0].PartitionKey != kr.Kinesis.PartitionKey || !bytes.Equal(out[0].Data, data) {
				t.Errorf("%s: re-aggregation differs\n got %q %x\nwant %q %x", fn, out[0].PartitionKey, out[0].Data, kr.Kinesis.PartitionKey, data)
			}
			if out[0].ExplicitHashKey != HashKeyFor(in[0].PartitionKey) {
				t.Errorf("%s: ExplicitHashKey %s, want the first user record's hash key", fn, out[0].ExplicitHashKey)
			}
		}
	}
}

// deaggregate sends out through the reference deaggregator and checks every
// aggregate's routing: each user record hashes into the shard that the
// aggregate's ExplicitHashKey selects, which is Record.ShardID.
func deaggregate(t *testing.T, m *ShardMap, out []Record) []types.Record {
	t.Helper()
	var users []types.Record
	for _, r := range out {
		sub, err := deaggregator.DeaggregateRecords([]types.Record{{Data: r.Data, PartitionKey: aws.String(r.PartitionKey)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(sub) != len(r.Seqs) {
			t.Fatalf("record with %d seqs deaggregates to %d", len(r.Seqs), len(sub))
		}
		if r.Aggregated() {
			if r.PartitionKey != "a" || !bytes.HasPrefix(r.Data, Magic) {
				t.Fatalf("aggregate with key %q", r.PartitionKey)
			}
			h, err := parseHashKey(r.ExplicitHashKey)
			if err != nil {
				t.Fatal(err)
			}
			i, ok := m.shardForHash(h)
			if !ok || m.ranges[i].id != r.ShardID {
				t.Fatalf("ExplicitHashKey %s does not route to %s", r.ExplicitHashKey, r.ShardID)
			}
			for _, u := range sub {
				if s, _ := m.ShardFor(*u.PartitionKey); s != r.ShardID {
					t.Fatalf("user record %s hashes to %s, aggregate goes to %s", *u.PartitionKey, s, r.ShardID)
				}
			}
		} else {
			if r.ExplicitHashKey != "" || bytes.HasPrefix(r.Data, Magic) && len(r.Data) > 20 {
				t.Fatalf("raw record looks aggregated: %+v", r)
			}
			if s, _ := m.ShardFor(r.PartitionKey); s != r.ShardID {
				t.Fatalf("raw record routed to %s, ShardID %s", s, r.ShardID)
			}
		}
		users = append(users, sub...)
	}
	return users
}

// TestRoundTripFourShards checks delivery, order and routing on 4 shards.
func TestRoundTripFourShards(t *testing.T) {
	m := mustMap(t, evenShards(4))
	rng := rand.New(rand.NewSource(7))
	var in []UserRecord
	for i := 0; i < 3000; i++ {
		d := make([]byte, 200+rng.Intn(1800))
		rng.Read(d)
		in = append(in, UserRecord{PartitionKey: key(i % 2500), Data: d, Seq: uint64(i)}) // some repeated keys
	}
	out := run(t, newAgg(t, m, Config{}), in)
	users := deaggregate(t, m, out)
	if len(users) != len(in) {
		t.Fatalf("%d user records out, %d in", len(users), len(in))
	}
	// Map output back to inputs through Seqs, check payloads and per-shard order.
	got := map[uint64]bool{}
	lastSeq := map[string]int64{}
	aggregated := 0
	u := 0
	for _, r := range out {
		if r.Aggregated() {
			aggregated++
		}
		if r.Size() > DefaultMaxAggregateSize {
			t.Errorf("record of %d bytes", r.Size())
		}
		for _, s := range r.Seqs {
			if got[s] {
				t.Fatalf("seq %d delivered twice", s)
			}
			got[s] = true
			if *users[u].PartitionKey != in[s].PartitionKey || !bytes.Equal(users[u].Data, in[s].Data) {
				t.Fatalf("seq %d: payload differs", s)
			}
			u++
			if last, ok := lastSeq[r.ShardID]; ok && int64(s) <= last {
				t.Fatalf("shard %s: seq %d after %d", r.ShardID, s, last)
			}
			lastSeq[r.ShardID] = int64(s)
		}
	}
	if len(lastSeq) != 4 || aggregated == 0 {
		t.Errorf("%d shards used, %d aggregates", len(lastSeq), aggregated)
	}
}

func TestLoneRecordIsRaw(t *testing.T) {
	m := mustMap(t, evenShards(4))
	a := newAgg(t, m, Config{})
	in := UserRecord{PartitionKey: key(1), Data: []byte("ion bytes"), Seq: 42}
	out := run(t, a, []UserRecord{in})
	if len(out) != 1 {
		t.Fatalf("%d records", len(out))
	}
	r := out[0]
	wantShard, _ := m.ShardFor(in.PartitionKey)
	if r.Aggregated() || r.PartitionKey != in.PartitionKey || r.ExplicitHashKey != "" || !bytes.Equal(r.Data, in.Data) ||
		r.ShardID != wantShard || len(r.Seqs) != 1 || r.Seqs[0] != 42 {
		t.Errorf("raw record %+v", r)
	}
	e := r.PutRecordsEntry()
	if *e.PartitionKey != in.PartitionKey || e.ExplicitHashKey != nil || !bytes.Equal(e.Data, in.Data) {
		t.Errorf("entry %+v", e)
	}
	// Records on different shards are never aggregated together.
	var keys []string
	for i := 0; len(keys) < 2; i++ {
		if s, _ := m.ShardFor(key(i)); s != wantShard {
			keys = append(keys, key(i))
		}
	}
	for _, r := range run(t, a, []UserRecord{{PartitionKey: in.PartitionKey, Data: []byte{1}}, {PartitionKey: keys[0], Data: []byte{2}}}) {
		if r.Aggregated() && r.ShardID != wantShard {
			t.Errorf("cross-shard aggregate %+v", r)
		}
	}
}

// TestSizeLimit checks exact size accounting: aggregates never exceed the
// limit, and one is closed only when the next record would not fit.
func TestSizeLimit(t *testing.T) {
	m := mustMap(t, evenShards(1))
	for _, max := range []int{100, 1000, 5000, DefaultMaxAggregateSize} {
		a := newAgg(t, m, Config{MaxAggregateSize: max})
		rng := rand.New(rand.NewSource(int64(max)))
		var in []UserRecord
		for i := 0; i < 400; i++ {
			n := rng.Intn(max / 3)
			if i%50 == 0 {
				n = max + rng.Intn(100) // too big to aggregate
			}
			in = append(in, UserRecord{PartitionKey: key(i)[:1+rng.Intn(64)], Data: make([]byte, n), Seq: uint64(i)})
		}
		out := run(t, a, in)
		deaggregate(t, m, out)
		next := 0
		for i, r := range out {
			if r.Aggregated() && r.Size() > max {
				t.Fatalf("max %d: aggregate of %d bytes", max, r.Size())
			}
			if !r.Aggregated() && r.Size() > max && len(in[r.Seqs[0]].Data)+len(in[r.Seqs[0]].PartitionKey) <= max {
				t.Fatalf("max %d: raw record of %d bytes", max, r.Size())
			}
			for _, s := range r.Seqs {
				if s != uint64(next) {
					t.Fatalf("max %d: seq %d, want %d (single shard keeps input order)", max, s, next)
				}
				next++
			}
			// Greedy: the next input record would not have fitted (or was oversized).
			if i+1 < len(out) && next < len(in) {
				nr := in[next]
				if nr.Data == nil {
					nr.Data = []byte{}
				}
				b := &buffer{keys: map[string]uint64{}}
				for _, s := range r.Seqs {
					b.add(in[s])
				}
				if len(nr.Data)+len(nr.PartitionKey) <= max && b.sizeWith(nr) <= max {
					t.Fatalf("max %d: record %d closed with %d bytes although seq %d (%d bytes) fitted", max, i, r.Size(), next, len(nr.Data))
				}
			}
		}
	}
}

func TestMaxCount(t *testing.T) {
	m := mustMap(t, evenShards(1))
	var in []UserRecord
	for i := 0; i < 10; i++ {
		in = append(in, UserRecord{PartitionKey: key(i), Data: []byte{byte(i)}, Seq: uint64(i)})
	}
	out := run(t, newAgg(t, m, Config{MaxAggregateCount: 3}), in)
	if len(out) != 4 || len(out[0].Seqs) != 3 || len(out[3].Seqs) != 1 || out[3].Aggregated() {
		t.Errorf("count 3: %d records", len(out))
	}
	a := newAgg(t, m, Config{MaxAggregateCount: 1})
	recs, err := a.Add(in[0])
	if err != nil || len(recs) != 1 || recs[0].Aggregated() || a.Pending() != 0 {
		t.Errorf("count 1: %v %v", recs, err)
	}
}

// TestOversizedRecordKeepsShardOrder: a record too big to aggregate is sent
// after what is pending for its shard.
func TestOversizedRecordKeepsShardOrder(t *testing.T) {
	m := mustMap(t, evenShards(1))
	a := newAgg(t, m, Config{MaxAggregateSize: 1000})
	in := []UserRecord{
		{PartitionKey: key(0), Data: make([]byte, 100), Seq: 0},
		{PartitionKey: key(1), Data: make([]byte, 100), Seq: 1},
		{PartitionKey: key(2), Data: make([]byte, 5000), Seq: 2},
		{PartitionKey: key(3), Data: make([]byte, 100), Seq: 3},
	}
	out := run(t, a, in)
	if len(out) != 3 || len(out[0].Seqs) != 2 || out[1].Seqs[0] != 2 || out[1].Aggregated() || out[2].Seqs[0] != 3 {
		t.Errorf("output %+v", out)
	}
}

func TestSharedPartitionKeysAreDeduplicated(t *testing.T) {
	m := mustMap(t, evenShards(1))
	in := []UserRecord{{PartitionKey: "k", Data: []byte("1")}, {PartitionKey: "k", Data: []byte("2")}, {PartitionKey: "j", Data: nil}}
	out := run(t, newAgg(t, m, Config{}), in)
	if len(out) != 1 {
		t.Fatalf("%d records", len(out))
	}
	var agg records.AggregatedRecord
	d := out[0].Data
	if err := proto.Unmarshal(d[4:len(d)-16], &agg); err != nil {
		t.Fatal(err)
	}
	if sum := md5.Sum(d[4 : len(d)-16]); !bytes.Equal(sum[:], d[len(d)-16:]) {
		t.Error("bad MD5")
	}
	if strings.Join(agg.PartitionKeyTable, ",") != "k,j" || agg.Records[1].GetPartitionKeyIndex() != 0 || agg.Records[2].GetPartitionKeyIndex() != 1 ||
		len(agg.ExplicitHashKeyTable) != 0 || agg.Records[0].ExplicitHashKeyIndex != nil {
		t.Errorf("aggregate %v", &agg)
	}
}

func TestUnroutableRecordGoesRaw(t *testing.T) {
	m := mustMap(t, []types.Shard{{ShardId: aws.String("low"), HashKeyRange: &types.HashKeyRange{StartingHashKey: aws.String("0"), EndingHashKey: aws.String("1000")}}})
	out := run(t, newAgg(t, m, Config{}), []UserRecord{{PartitionKey: "x", Data: []byte{1}}, {PartitionKey: "y", Data: []byte{2}}})
	if len(out) != 2 || out[0].ShardID != "" || out[0].Aggregated() || out[1].Aggregated() {
		t.Errorf("output %+v", out)
	}
}

func TestSetShardMapFlushes(t *testing.T) {
	a := newAgg(t, mustMap(t, evenShards(1)), Config{})
	for i := 0; i < 3; i++ {
		if _, err := a.Add(UserRecord{PartitionKey: key(i), Data: []byte{1}}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := a.SetShardMap(mustMap(t, evenShards(2)))
	if err != nil || len(out) != 1 || len(out[0].Seqs) != 3 || a.Pending() != 0 {
		t.Errorf("SetShardMap: %v %v", out, err)
	}
	if _, err := a.SetShardMap(nil); err == nil {
		t.Error("nil map accepted")
	}
}

func TestAggregatorErrors(t *testing.T) {
	m := mustMap(t, evenShards(1))
	for _, cfg := range []Config{{MaxAggregateSize: 10}, {MaxAggregateSize: MaxRecordSize + 1}, {MaxAggregateCount: -1}} {
		if _, err := NewAggregator(m, cfg); err == nil || !strings.HasPrefix(err.Error(), "kpl: ") {
			t.Errorf("config %+v: %v", cfg, err)
		}
	}
	if _, err := NewAggregator(nil, Config{}); err == nil {
		t.Error("nil map accepted")
	}
	a := newAgg(t, m, Config{MaxAggregateSize: MaxRecordSize})
	for name, r := range map[string]UserRecord{
		"empty key":    {Data: []byte{1}},
		"long key":     {PartitionKey: strings.Repeat("é", 257), Data: []byte{1}},
		"over 1 MiB":   {PartitionKey: "k", Data: make([]byte, MaxRecordSize)},
		"over 1 MiB 2": {PartitionKey: strings.Repeat("k", 100), Data: make([]byte, MaxRecordSize-99)},
	} {
		if _, err := a.Add(r); err == nil || !strings.HasPrefix(err.Error(), "kpl: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if a.Pending() != 0 {
		t.Error("rejected records kept")
	}
	// Exactly 1 MiB including the key is accepted, raw.
	out := run(t, a, []UserRecord{{PartitionKey: "k", Data: make([]byte, MaxRecordSize-1)}})
	if len(out) != 1 || out[0].Size() != MaxRecordSize {
		t.Errorf("1 MiB record: %d records", len(out))
	}
}

// TestRandomFuzz runs random sizes, keys, limits and shard counts through the
// deaggregator and checks the invariants.
func TestRandomFuzz(t *testing.T) {
	rng := rand.New(rand.NewSource(99))
	for iter := 0; iter < 40; iter++ {
		m := mustMap(t, evenShards(1+rng.Intn(6)))
		cfg := Config{MaxAggregateSize: 200 + rng.Intn(60000), MaxAggregateCount: []int{0, 1, 2, 5, 100}[rng.Intn(5)]}
		a := newAgg(t, m, cfg)
		var in []UserRecord
		for i := 0; i < 300; i++ {
			n := rng.Intn(cfg.MaxAggregateSize/2 + 10)
			if rng.Intn(30) == 0 {
				n = cfg.MaxAggregateSize + rng.Intn(1000)
			}
			d := make([]byte, n)
			rng.Read(d)
			in = append(in, UserRecord{PartitionKey: key(rng.Intn(400))[:1+rng.Intn(64)], Data: d, Seq: uint64(i)})
		}
		var out []Record
		for _, r := range in {
			recs, err := a.Add(r)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, recs...)
			if rng.Intn(50) == 0 {
				f, err := a.Flush()
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, f...)
			}
		}
		f, err := a.Flush()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f...)
		users := deaggregate(t, m, out)
		if len(users) != len(in) {
			t.Fatalf("iter %d: %d out, %d in", iter, len(users), len(in))
		}
		u := 0
		for _, r := range out {
			if r.Aggregated() && (r.Size() > cfg.MaxAggregateSize || cfg.MaxAggregateCount > 0 && len(r.Seqs) > cfg.MaxAggregateCount) {
				t.Fatalf("iter %d: aggregate of %d bytes / %d records breaks %+v", iter, r.Size(), len(r.Seqs), cfg)
			}
			for _, s := range r.Seqs {
				if !bytes.Equal(users[u].Data, in[s].Data) || *users[u].PartitionKey != in[s].PartitionKey {
					t.Fatalf("iter %d: seq %d payload differs", iter, s)
				}
				u++
			}
		}
	}
}

// BenchmarkAggregate1KB aggregates ~1 KB records (QLDB-sized) with 64-hex
// keys over 4 shards. MB/s counts user-record payload; recs/agg is the mean
// number of user records per Kinesis record.
func BenchmarkAggregate1KB(b *testing.B) {
	m := mustMap(b, evenShards(4))
	a := newAgg(b, m, Config{})
	rng := rand.New(rand.NewSource(1))
	const n = 4096
	in := make([]UserRecord, n)
	for i := range in {
		d := make([]byte, 700+rng.Intn(600))
		rng.Read(d)
		in[i] = UserRecord{PartitionKey: key(i), Data: d, Seq: uint64(i)}
	}
	b.SetBytes(1000)
	b.ReportAllocs()
	b.ResetTimer()
	var outRecs, users int
	for i := 0; i < b.N; i++ {
		recs, err := a.Add(in[i%n])
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range recs {
			outRecs++
			users += len(r.Seqs)
		}
	}
	recs, _ := a.Flush()
	for _, r := range recs {
		outRecs++
		users += len(r.Seqs)
	}
	b.ReportMetric(float64(users)/float64(outRecs), "recs/agg")
}
