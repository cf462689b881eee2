package record

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/awslabs/kinesis-aggregation/go/v2/records"
	"github.com/golang/protobuf/proto"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
)

// captured is one user record from a real QLDB-written Kinesis record.
type captured struct {
	name         string
	partitionKey string
	data         []byte
}

// loadCaptured de-aggregates every Kinesis record of testdata/*.json.
func loadCaptured(t testing.TB) []captured {
	t.Helper()
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no captured events: %v", err)
	}
	var out []captured
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
			t.Fatalf("%s: %v", fn, err)
		}
		for i, r := range ev.Records {
			d, err := base64.StdEncoding.DecodeString(r.Kinesis.Data)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(d, []byte{0xf3, 0x89, 0x9a, 0xc2}) {
				t.Fatalf("%s[%d]: not a KPL aggregate", fn, i)
			}
			pb := d[4 : len(d)-16]
			if sum := md5.Sum(pb); !bytes.Equal(sum[:], d[len(d)-16:]) {
				t.Fatalf("%s[%d]: bad MD5", fn, i)
			}
			var agg records.AggregatedRecord
			if err := proto.Unmarshal(pb, &agg); err != nil {
				t.Fatal(err)
			}
			for j, ur := range agg.Records {
				out = append(out, captured{
					name:         filepath.Base(fn) + "#" + string(rune('0'+i)) + "." + string(rune('0'+j)),
					partitionKey: agg.PartitionKeyTable[ur.GetPartitionKeyIndex()],
					data:         ur.Data,
				})
			}
		}
	}
	return out
}

// loadTextVectors returns the records of testdata/person-block3-stream.ion.
func loadTextVectors(t testing.TB) []*ionvalue.Value {
	t.Helper()
	raw, err := os.ReadFile("testdata/person-block3-stream.ion")
	if err != nil {
		t.Fatal(err)
	}
	vs, err := ionvalue.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 {
		t.Fatalf("got %d text records, want 2", len(vs))
	}
	return vs
}

// TestCapturedRecordsReencodeExactly is the byte-exactness check: every real
// QLDB record decodes, re-encodes to the identical bytes, and its partition
// key is the one QLDB used.
func TestCapturedRecordsReencodeExactly(t *testing.T) {
	caps := loadCaptured(t)
	if len(caps) != 7 {
		t.Fatalf("got %d captured user records, want 7", len(caps))
	}
	types := map[RecordType]int{}
	for _, c := range caps {
		rec, err := Decode(c.data)
		if err != nil {
			t.Fatalf("%s: decode: %v", c.name, err)
		}
		types[rec.Type]++
		if got := rec.PartitionKey(); got != c.partitionKey {
			t.Errorf("%s: partition key %s, QLDB used %s", c.name, got, c.partitionKey)
		}
		enc, err := rec.Encode()
		if err != nil {
			t.Fatalf("%s: encode: %v", c.name, err)
		}
		if !bytes.Equal(enc, c.data) {
			t.Errorf("%s: re-encoding differs\n got %x\nwant %x", c.name, enc, c.data)
		}
	}
	if types[TypeBlockSummary] != 3 || types[TypeRevisionDetails] != 4 {
		t.Errorf("record types %v, want 3 BLOCK_SUMMARY and 4 REVISION_DETAILS", types)
	}
}

func TestCapturedDecodedValues(t *testing.T) {
	caps := loadCaptured(t)
	byKey := map[string]*Record{}
	for _, c := range caps {
		rec, err := Decode(c.data)
		if err != nil {
			t.Fatal(err)
		}
		byKey[c.partitionKey] = rec
	}
	bs := byKey["be86263c6e356fdfb6dcfed4d841139642347be377a0f2c211fe1a137956abc7"]
	if bs == nil || bs.Type != TypeBlockSummary {
		t.Fatalf("block summary not found: %+v", bs)
	}
	b := bs.Block
	if bs.StreamARN != "arn:aws:qldb:eu-west-1:082136225280:stream/qldb-simple-demo-dev/Fy4gT7n9rnrLQDEhY6otul" ||
		b.Address != (journal.BlockAddress{StrandID: "JUJgrQeIeI64ZgvXIuqlZ1", SequenceNo: 545}) ||
		b.TransactionID != "2EOkysIJqfFACzE3TLlbY8" ||
		!b.Timestamp.Equal(time.Date(2020, 7, 3, 20, 36, 44, 181e6, time.UTC)) ||
		len(b.EntriesHashList) != 4 || len(b.TransactionInfo.Statements) != 3 {
		t.Errorf("unexpected block summary %+v", b)
	}
	if d := b.TransactionInfo.Documents; len(d) != 1 || d[0].DocumentID != "LSkFrekxpQeDFzPFUNidAt" ||
		d[0].TableName != "BicycleLicence" || d[0].TableID != "17CRCBBPOEe4aSgHpQ8fSm" ||
		len(d[0].Statements) != 3 || d[0].Statements[0] != 1 || d[0].Statements[2] != 2 {
		t.Errorf("unexpected documents %+v", d)
	}
	if len(b.Revisions) != 1 || b.Revisions[0].Metadata.ID != "LSkFrekxpQeDFzPFUNidAt" ||
		hex.EncodeToString(b.Revisions[0].Hash) != "24cd1c4a427f03dc968ba2687a608d2e8044ee4abd40ca4fd7e2d77968bc2596" {
		t.Errorf("unexpected revision summaries %+v", b.Revisions)
	}
	// The revision summarised is the REVISION_DETAILS record of the same aggregate.
	rd := byKey["24cd1c4a427f03dc968ba2687a608d2e8044ee4abd40ca4fd7e2d77968bc2596"]
	if rd == nil || rd.Type != TypeRevisionDetails {
		t.Fatalf("revision details not found")
	}
	rev := rd.Revision.Revision
	if rd.Revision.Address != b.Address || rev.TableName != "BicycleLicence" ||
		rev.Metadata != (journal.RevisionMetadata{ID: "LSkFrekxpQeDFzPFUNidAt", Version: 0,
			TxTime: time.Date(2020, 7, 3, 20, 36, 44, 163e6, time.UTC), TxID: "2EOkysIJqfFACzE3TLlbY8"}) {
		t.Errorf("unexpected revision details %+v", rd.Revision)
	}
	if got := ionvalue.MarshalText(rev.Data); !strings.HasPrefix(got, `{Name:"Test User",Email:"testuser@gmail.com",`) {
		t.Errorf("unexpected data %s", got)
	}
}

// TestTextVectorsRoundTrip encodes the text-form real records and checks that
// the binary decodes to the same Ion value and the same Ion text.
func TestTextVectorsRoundTrip(t *testing.T) {
	for i, v := range loadTextVectors(t) {
		rec, err := fromValue(v)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		enc, err := rec.Encode()
		if err != nil {
			t.Fatalf("record %d: encode: %v", i, err)
		}
		back, err := ionvalue.DecodeOne(enc)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ionvalue.MarshalText(back), ionvalue.MarshalText(v); got != want {
			t.Errorf("record %d: text differs\n got %s\nwant %s", i, got, want)
		}
		assertOrderedLike(t, back, v, "")
		rec2, err := Decode(enc)
		if err != nil {
			t.Fatal(err)
		}
		enc2, err := rec2.Encode()
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Errorf("record %d: second round trip differs (%v)", i, err)
		}
	}
}

// assertOrderedLike checks that got and want have the same field names in the
// same order at every struct level (Equal ignores struct order).
func assertOrderedLike(t *testing.T, got, want *ionvalue.Value, path string) {
	t.Helper()
	if !ionvalue.Equal(got, want) {
		t.Fatalf("%s: values differ\n got %s\nwant %s", path, got, want)
	}
	if len(got.Fields) != len(want.Fields) || len(got.Elems) != len(want.Elems) {
		t.Fatalf("%s: shape differs", path)
	}
	for i := range got.Fields {
		if got.Fields[i].Name != want.Fields[i].Name {
			t.Fatalf("%s: field %d is %q, want %q", path, i, got.Fields[i].Name, want.Fields[i].Name)
		}
		assertOrderedLike(t, got.Fields[i].Value, want.Fields[i].Value, path+"."+got.Fields[i].Name)
	}
	for i := range got.Elems {
		assertOrderedLike(t, got.Elems[i], want.Elems[i], path+"[]")
	}
}

// TestTextVectorPartitionKeys checks the content-hash keys on the Dec 2019 pair.
func TestTextVectorPartitionKeys(t *testing.T) {
	vs := loadTextVectors(t)
	bs, err := fromValue(vs[0])
	if err != nil {
		t.Fatal(err)
	}
	rd, err := fromValue(vs[1])
	if err != nil {
		t.Fatal(err)
	}
	if got := bs.PartitionKey(); got != hex.EncodeToString(bs.Block.BlockHash) || len(got) != 64 {
		t.Errorf("block key %s", got)
	}
	if got := rd.PartitionKey(); got != hex.EncodeToString(rd.Revision.Revision.Hash) {
		t.Errorf("revision key %s", got)
	}
	// The summary lists the revision that the details record carries.
	if !bytes.Equal(bs.Block.Revisions[0].Hash, rd.Revision.Revision.Hash) ||
		bs.Block.Revisions[0].Metadata.ID != rd.Revision.Revision.Metadata.ID {
		t.Error("revision summary does not match the revision details")
	}
}
