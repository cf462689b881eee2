package record

import (
	"bytes"
	"crypto/sha256"
	"reflect"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
)

// FuzzDecodeRoundTrip feeds arbitrary bytes to Decode. Whatever Decode
// accepts must re-encode (the decoder accepts nothing the encoder refuses),
// the re-encoding must decode to the same Record, and encoding is a fixed
// point: decode(encode(r)) encodes to the same bytes. Seeds: testdata/fuzz
// (the captured QLDB records, a CONTROL record, a block without
// transactions) plus the captured records themselves.
func FuzzDecodeRoundTrip(f *testing.F) {
	for _, c := range loadCaptured(f) {
		f.Add(c.data)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			if r != nil {
				t.Fatalf("Decode returned a record and an error %v", err)
			}
			return
		}
		enc, err := r.Encode()
		if err != nil {
			t.Fatalf("Decode accepted %x but Encode refuses the record: %v", b, err)
		}
		r2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoding of %x does not decode: %v\n%x", b, err, enc)
		}
		if !sameRecord(r, r2) {
			t.Fatalf("round trip changed the record:\n got %+v\nwant %+v", r2, r)
		}
		enc2, err := r2.Encode()
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not a fixed point (%v):\n%x\n%x", err, enc, enc2)
		}
	})
}

// FuzzEncodeRoundTrip builds records from fuzzed fields (ARN, strand,
// sequence number, IDs, statement text, a millisecond timestamp, a document
// as Ion text, a hash seed) and checks that every record Encode accepts decodes back
// equal, for all three record types.
func FuzzEncodeRoundTrip(f *testing.F) {
	f.Add("arn:aws:qldb:us-east-1:123456789012:stream/l/s", "JUJgrQeIeI64ZgvXIuqlZ1", uint64(70000), "2EOkysIJqfFACzE3TLlbY8",
		"INSERT INTO Person ?", int64(1709251198007), "{Name:\"a\",n:1.50,l:[1,2e0,null.int],t:2020-01-01T}", uint64(3), []byte("h"))
	f.Add("", "", uint64(0), "", "", int64(0), "null", uint64(0), []byte{})
	f.Add("a\x00b", "é", ^uint64(0), "\xff", "'\"", int64(-62135596800000), "{a:{b:{c:[[[]]]}}}", ^uint64(0), bytes.Repeat([]byte{0xff}, 32))
	f.Fuzz(func(t *testing.T, arn, strand string, seq uint64, id, stmt string, ms int64, doc string, version uint64, seedHash []byte) {
		sum := sha256.Sum256(seedHash)
		h := sum[:]
		when := time.UnixMilli(ms).UTC()
		var data *ionvalue.Value
		if vs, err := ionvalue.Decode([]byte(doc)); err == nil && len(vs) == 1 {
			data = vs[0]
		}
		addr := journal.BlockAddress{StrandID: strand, SequenceNo: seq}
		rev := journal.Revision{
			Hash: h, Data: data, TableName: stmt, TableID: id,
			Metadata: journal.RevisionMetadata{ID: id, Version: version, TxTime: when, TxID: id},
		}
		block := &journal.Block{
			Address: addr, TransactionID: id, Timestamp: when,
			BlockHash: h, EntriesHash: h, PreviousBlockHash: h, EntriesHashList: [][]byte{h},
			TransactionInfo: journal.TransactionInfo{
				Statements: []journal.StatementInfo{{Statement: stmt, StartTime: when, StatementDigest: h}},
				Documents:  []journal.DocumentInfo{{DocumentID: id, TableName: stmt, TableID: id, Statements: []int{0}}},
			},
			Revisions: []journal.Revision{{Hash: h, Metadata: journal.RevisionMetadata{ID: id}}},
		}
		want := []*Record{
			{StreamARN: arn, Type: TypeControl, ControlType: stmt},
			{StreamARN: arn, Type: TypeBlockSummary, Block: block},
			{StreamARN: arn, Type: TypeRevisionDetails, Revision: &RevisionDetails{Address: addr, Revision: rev}},
		}
		for _, r := range want {
			enc, err := r.Encode()
			if err != nil {
				continue // the encoder's own checks (e.g. a timestamp out of range)
			}
			got, err := Decode(enc)
			if err != nil {
				t.Fatalf("%s: Encode's output does not decode: %v\n%x", r.Type, err, enc)
			}
			if !sameRecord(got, r) {
				t.Fatalf("%s: round trip changed the record:\n got %+v\nwant %+v", r.Type, got, r)
			}
		}
	})
}

// sameRecord compares two records field by field, times by instant and Ion
// data by Ion equality.
func sameRecord(a, b *Record) bool {
	if a.StreamARN != b.StreamARN || a.Type != b.Type || a.ControlType != b.ControlType {
		return false
	}
	if (a.Block == nil) != (b.Block == nil) || (a.Revision == nil) != (b.Revision == nil) {
		return false
	}
	if a.Block != nil && !sameBlock(a.Block, b.Block) {
		return false
	}
	if a.Revision != nil {
		ra, rb := a.Revision.Revision, b.Revision.Revision
		if a.Revision.Address != b.Revision.Address || !sameRevision(ra, rb) ||
			ra.TableName != rb.TableName || ra.TableID != rb.TableID {
			return false
		}
		if (ra.Data == nil) != (rb.Data == nil) || (ra.Data != nil && !ionvalue.Equal(ra.Data, rb.Data)) {
			return false
		}
	}
	return true
}

func sameBlock(a, b *journal.Block) bool {
	if a.Address != b.Address || a.TransactionID != b.TransactionID || !a.Timestamp.Equal(b.Timestamp) ||
		!bytes.Equal(a.BlockHash, b.BlockHash) || !bytes.Equal(a.EntriesHash, b.EntriesHash) ||
		!bytes.Equal(a.PreviousBlockHash, b.PreviousBlockHash) || !sameHashes(a.EntriesHashList, b.EntriesHashList) ||
		len(a.Revisions) != len(b.Revisions) || len(a.TransactionInfo.Statements) != len(b.TransactionInfo.Statements) ||
		!sameDocs(a.TransactionInfo.Documents, b.TransactionInfo.Documents) {
		return false
	}
	for i := range a.Revisions {
		if !sameRevision(a.Revisions[i], b.Revisions[i]) {
			return false
		}
	}
	for i, s := range a.TransactionInfo.Statements {
		o := b.TransactionInfo.Statements[i]
		if s.Statement != o.Statement || !s.StartTime.Equal(o.StartTime) || !bytes.Equal(s.StatementDigest, o.StatementDigest) {
			return false
		}
	}
	return true
}

func sameRevision(a, b journal.Revision) bool {
	return bytes.Equal(a.Hash, b.Hash) && a.Metadata.ID == b.Metadata.ID && a.Metadata.Version == b.Metadata.Version &&
		a.Metadata.TxTime.Equal(b.Metadata.TxTime) && a.Metadata.TxID == b.Metadata.TxID
}

func sameHashes(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sameDocs(a, b []journal.DocumentInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.DocumentID != y.DocumentID || x.TableName != y.TableName || x.TableID != y.TableID ||
			!reflect.DeepEqual(normInts(x.Statements), normInts(y.Statements)) {
			return false
		}
	}
	return true
}

func normInts(s []int) []int {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestEncodeRejectsInvalidUTF8 is the regression test of the first input
// FuzzEncodeRoundTrip found: a string field that is not valid UTF-8 was
// written as is, and the record could not be decoded (by Decode or any Ion
// reader). Encode now refuses it.
func TestEncodeRejectsInvalidUTF8(t *testing.T) {
	b := testBlock()
	b.TransactionInfo.Statements[0].Statement = "SELECT \xff"
	if enc, err := EncodeBlockSummary("arn:aws:qldb:us-east-1:123456789012:stream/l/s", b); err == nil {
		t.Fatalf("encoded a statement that is not UTF-8: %x", enc)
	}
	rev := testRevision(nil)
	rev.TableName = "\xc3"
	if _, err := EncodeRevisionDetails("arn:aws:qldb:us-east-1:123456789012:stream/l/s", b.Address, rev); err == nil {
		t.Fatal("encoded a table name that is not UTF-8")
	}
	if _, err := EncodeControl("arn\xff", ControlCreated); err == nil {
		t.Fatal("encoded a stream ARN that is not UTF-8")
	}
}

// TestEncodeRejectsSequenceBeyondInt64 is the regression test of the second
// input FuzzEncodeRoundTrip found: a sequence number or version above
// math.MaxInt64 was encoded, and Decode (like QLDB's Java longs) refuses it.
func TestEncodeRejectsSequenceBeyondInt64(t *testing.T) {
	b := testBlock()
	b.Address.SequenceNo = 1 << 63
	if _, err := EncodeBlockSummary("arn:aws:qldb:us-east-1:123456789012:stream/l/s", b); err == nil {
		t.Fatal("encoded sequenceNo 2^63")
	}
	rev := testRevision(nil)
	rev.Metadata.Version = 1 << 63
	if _, err := EncodeRevisionDetails("arn:aws:qldb:us-east-1:123456789012:stream/l/s", testBlock().Address, rev); err == nil {
		t.Fatal("encoded version 2^63")
	}
	rev = testRevision(nil)
	if _, err := EncodeRevisionDetails("arn:aws:qldb:us-east-1:123456789012:stream/l/s", b.Address, rev); err == nil {
		t.Fatal("encoded a REVISION_DETAILS at sequenceNo 2^63")
	}
}
