package record

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
)

const testARN = "arn:aws:qldb:us-east-1:123456789012:stream/exampleLedger/IiPT4brpZCqCq3f4MTHbYy"

func hash(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

var t0 = time.Date(2024, 2, 29, 23, 59, 58, 7e6, time.UTC)

// testBlock is a block with a user revision, a deleted document and a system
// revision, touched by two statements.
func testBlock() *journal.Block {
	return &journal.Block{
		Address:           journal.BlockAddress{StrandID: "JUJgrQeIeI64ZgvXIuqlZ1", SequenceNo: 70000},
		TransactionID:     "2EOkysIJqfFACzE3TLlbY8",
		Timestamp:         t0.Add(30 * time.Millisecond),
		BlockHash:         hash("block"),
		EntriesHash:       hash("entries"),
		PreviousBlockHash: hash("previous"),
		EntriesHashList:   [][]byte{hash("e1"), hash("e2")},
		TransactionInfo: journal.TransactionInfo{
			Statements: []journal.StatementInfo{
				{Statement: "INSERT INTO Person ?", StartTime: t0, StatementDigest: hash("s0")},
				{Statement: "DELETE FROM Person WHERE GovId = ?", StartTime: t0.Add(time.Millisecond), StatementDigest: hash("s1")},
			},
			Documents: []journal.DocumentInfo{
				{DocumentID: "D35qd3e2prnJYmtKW6kok1", TableName: "Person", TableID: "1SUXCa3wwV0GD7kV78RbSg", Statements: []int{0}},
				{DocumentID: "0VwGeHD7Q9LL4HSC55gDSp", TableName: "Person", TableID: "1SUXCa3wwV0GD7kV78RbSg", Statements: []int{1, 1}},
			},
		},
		Revisions: []journal.Revision{
			{Hash: hash("r0"), Metadata: journal.RevisionMetadata{ID: "D35qd3e2prnJYmtKW6kok1"}},
			{Hash: hash("r1"), Metadata: journal.RevisionMetadata{ID: "0VwGeHD7Q9LL4HSC55gDSp"}},
			{Hash: hash("sys")},
		},
	}
}

func testRevision(data *ionvalue.Value) journal.Revision {
	return journal.Revision{
		Hash: hash("r0"),
		Data: data,
		Metadata: journal.RevisionMetadata{
			ID: "D35qd3e2prnJYmtKW6kok1", Version: 3, TxTime: t0.Add(20 * time.Millisecond), TxID: "2EOkysIJqfFACzE3TLlbY8",
		},
		TableName: "Person",
		TableID:   "1SUXCa3wwV0GD7kV78RbSg",
	}
}

// lstSymbols parses the local symbol table that must follow the IVM.
func lstSymbols(t *testing.T, b []byte) (syms []string, body []byte) {
	t.Helper()
	p := b[4:]
	readLen := func(desc byte) int {
		n := int(desc & 0x0F)
		if n == 14 {
			n = 0
			for {
				c := p[0]
				p = p[1:]
				n = n<<7 | int(c&0x7F)
				if c&0x80 != 0 {
					break
				}
			}
		}
		return n
	}
	if p[0]>>4 != 0xE {
		t.Fatalf("no annotation wrapper after the IVM: %x", p[:4])
	}
	desc := p[0]
	p = p[1:]
	wrapLen := readLen(desc)
	body = p[wrapLen:]
	if p[0] != 0x81 || p[1] != 0x83 {
		t.Fatalf("wrapper is not $ion_symbol_table: %x", p[:2])
	}
	p = p[2:]
	desc, p = p[0], p[1:]
	if desc>>4 != 0xD {
		t.Fatal("symbol table is not a struct")
	}
	readLen(desc)
	if p[0] != 0x87 {
		t.Fatalf("symbol table field is %x, want symbols (87)", p[0])
	}
	p = p[1:]
	desc, p = p[0], p[1:]
	listLen := readLen(desc)
	list := p[:listLen]
	for len(list) > 0 {
		p = list[1:]
		n := readLen(list[0])
		syms = append(syms, string(p[:n]))
		list = p[n:]
	}
	return syms, body
}

func TestEncodeControl(t *testing.T) {
	for _, ct := range []string{ControlCreated, ControlCompleted} {
		b, err := EncodeControl(testARN, ct)
		if err != nil {
			t.Fatal(err)
		}
		syms, body := lstSymbols(t, b)
		if want := []string{"qldbStreamArn", "recordType", "payload", "controlRecordType"}; !reflect.DeepEqual(syms, want) {
			t.Errorf("symbols %v, want %v", syms, want)
		}
		// payload (sid 12) is a short struct: {controlRecordType (sid 13): "<ct>"}.
		wantPayload := append([]byte{0x8c, 0xD0 | byte(2+len(ct)), 0x8d, 0x80 | byte(len(ct))}, ct...)
		if !bytes.HasSuffix(body, wantPayload) {
			t.Errorf("payload bytes %x, want suffix %x", body, wantPayload)
		}
		rec, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Type != TypeControl || rec.ControlType != ct || rec.StreamARN != testARN || rec.Block != nil || rec.Revision != nil {
			t.Errorf("decoded %+v", rec)
		}
		if got := ionvalue.MarshalText(mustDecodeOne(t, b)); got != `{qldbStreamArn:"`+testARN+`",recordType:"CONTROL",payload:{controlRecordType:"`+ct+`"}}` {
			t.Errorf("text %s", got)
		}
	}
	if _, err := EncodeControl(testARN, "CANCELLED"); err == nil || !strings.HasPrefix(err.Error(), "record: ") {
		t.Errorf("unknown control type: err %v", err)
	}
	if _, err := EncodeControl("", ControlCreated); err == nil {
		t.Error("empty ARN accepted")
	}
}

func TestControlPartitionKey(t *testing.T) {
	k := ControlPartitionKey(testARN, ControlCreated)
	sum := sha256.Sum256([]byte(testARN))
	if k != hex.EncodeToString(sum[:]) || len(k) != 64 || strings.ToLower(k) != k {
		t.Errorf("key %s", k)
	}
	if k != ControlPartitionKey(testARN, ControlCompleted) {
		t.Error("CREATED and COMPLETED must share a key (and so a shard, which keeps them in order)")
	}
	if k == ControlPartitionKey(testARN+"x", ControlCreated) {
		t.Error("two streams share a control key")
	}
	rec := &Record{StreamARN: testARN, Type: TypeControl, ControlType: ControlCreated}
	if rec.PartitionKey() != k {
		t.Error("Record.PartitionKey differs from ControlPartitionKey")
	}
}

func mustDecodeOne(t *testing.T, b []byte) *ionvalue.Value {
	t.Helper()
	v, err := ionvalue.DecodeOne(b)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestEncodeBlockSummaryRoundTrip(t *testing.T) {
	blk := testBlock()
	b, err := EncodeBlockSummary(testARN, blk)
	if err != nil {
		t.Fatal(err)
	}
	syms, _ := lstSymbols(t, b)
	want := []string{"qldbStreamArn", "recordType", "payload", "blockAddress", "strandId", "sequenceNo",
		"transactionId", "blockTimestamp", "blockHash", "entriesHash", "previousBlockHash", "entriesHashList",
		"transactionInfo", "statements", "statement", "startTime", "statementDigest", "documents",
		"D35qd3e2prnJYmtKW6kok1", "tableName", "tableId", "0VwGeHD7Q9LL4HSC55gDSp", "revisionSummaries", "hash", "documentId"}
	if !reflect.DeepEqual(syms, want) {
		t.Errorf("symbols\n got %v\nwant %v", syms, want)
	}
	rec, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if rec.PartitionKey() != hex.EncodeToString(blk.BlockHash) || BlockSummaryPartitionKey(blk) != rec.PartitionKey() {
		t.Error("partition key is not hex(blockHash)")
	}
	// The decoded block equals the input restricted to what a summary carries.
	exp := *blk
	exp.Revisions = []journal.Revision{
		{Hash: blk.Revisions[0].Hash, Metadata: journal.RevisionMetadata{ID: blk.Revisions[0].Metadata.ID}},
		{Hash: blk.Revisions[1].Hash, Metadata: journal.RevisionMetadata{ID: blk.Revisions[1].Metadata.ID}},
		{Hash: blk.Revisions[2].Hash},
	}
	if !reflect.DeepEqual(rec.Block, &exp) {
		t.Errorf("decoded block\n got %+v\nwant %+v", rec.Block, &exp)
	}
	text := ionvalue.MarshalText(mustDecodeOne(t, b))
	for _, frag := range []string{
		`blockAddress:{strandId:"JUJgrQeIeI64ZgvXIuqlZ1",sequenceNo:70000}`,
		`blockTimestamp:2024-02-29T23:59:58.037Z`,
		`{statement:"INSERT INTO Person ?",startTime:2024-02-29T23:59:58.007Z,statementDigest:{{`,
		`'0VwGeHD7Q9LL4HSC55gDSp':{tableName:"Person",tableId:"1SUXCa3wwV0GD7kV78RbSg",statements:[1,1]}`,
		`,{hash:{{` + b64(hash("sys")) + `}}}]`,
	} {
		if !strings.Contains(text, frag) {
			t.Errorf("text lacks %s\n%s", frag, text)
		}
	}
}

func TestEncodeReadOnlyBlockOmitsEmptyContainers(t *testing.T) {
	blk := testBlock()
	blk.TransactionInfo.Statements = blk.TransactionInfo.Statements[:1]
	blk.TransactionInfo.Statements[0].Statement = "SELECT * FROM information_schema.user_tables"
	blk.TransactionInfo.Documents = nil
	blk.Revisions = nil
	blk.PreviousBlockHash = nil // first block of a strand
	b, err := EncodeBlockSummary(testARN, blk)
	if err != nil {
		t.Fatal(err)
	}
	syms, _ := lstSymbols(t, b)
	for _, s := range syms {
		if s == "documents" || s == "revisionSummaries" || s == "hash" {
			t.Errorf("symbol %q present for a read-only transaction", s)
		}
	}
	rec, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Block.TransactionInfo.Documents) != 0 || len(rec.Block.Revisions) != 0 || len(rec.Block.PreviousBlockHash) != 0 {
		t.Errorf("decoded %+v", rec.Block)
	}
	if !strings.Contains(ionvalue.MarshalText(mustDecodeOne(t, b)), "previousBlockHash:{{}}") {
		t.Error("genesis previousBlockHash is not an empty blob")
	}
}

func TestEncodeRevisionDetails(t *testing.T) {
	data := ionvalue.Struct(
		ionvalue.Field{Name: "FirstName", Value: ionvalue.String("Raul")},
		ionvalue.Field{Name: "DOB", Value: ionvalue.Timestamp(ion.NewDateTimestamp(time.Date(1963, 8, 19, 0, 0, 0, 0, time.UTC), ion.TimestampPrecisionDay))},
		ionvalue.Field{Name: "name", Value: ionvalue.Symbol("hash")}, // system symbol + a later envelope symbol
		ionvalue.Field{Name: "Score", Value: ionvalue.Float(1.5)},
	)
	addr := journal.BlockAddress{StrandID: "HbD9IggL584EPHmfwjmVz0", SequenceNo: 3}
	rev := testRevision(data)
	b, err := EncodeRevisionDetails(testARN, addr, rev)
	if err != nil {
		t.Fatal(err)
	}
	syms, _ := lstSymbols(t, b)
	want := []string{"qldbStreamArn", "recordType", "payload", "tableInfo", "tableName", "tableId", "revision",
		"blockAddress", "strandId", "sequenceNo", "hash", "data", "FirstName", "DOB", "Score", "metadata", "id", "txTime", "txId"}
	if !reflect.DeepEqual(syms, want) {
		t.Errorf("symbols\n got %v\nwant %v", syms, want)
	}
	if want := `data:{FirstName:"Raul",DOB:1963-08-19,name:hash,Score:1.5e0},metadata:{id:"D35qd3e2prnJYmtKW6kok1",version:3,txTime:2024-02-29T23:59:58.027Z,txId:"2EOkysIJqfFACzE3TLlbY8"}}}}`; !strings.HasSuffix(ionvalue.MarshalText(mustDecodeOne(t, b)), want) {
		t.Errorf("text %s", ionvalue.MarshalText(mustDecodeOne(t, b)))
	}
	rec, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	got := rec.Revision
	if got.Address != addr || !ionvalue.Equal(got.Revision.Data, data) {
		t.Errorf("decoded %+v", got)
	}
	got.Revision.Data, rev.Data = nil, nil
	if !reflect.DeepEqual(got.Revision, rev) {
		t.Errorf("decoded revision\n got %+v\nwant %+v", got.Revision, rev)
	}
	if rec.PartitionKey() != hex.EncodeToString(rev.Hash) || RevisionDetailsPartitionKey(rev) != rec.PartitionKey() {
		t.Error("partition key is not hex(revision hash)")
	}
}

func TestEncodeDeletedRevisionHasNoData(t *testing.T) {
	rev := testRevision(nil)
	b, err := EncodeRevisionDetails(testARN, journal.BlockAddress{StrandID: "s", SequenceNo: 9}, rev)
	if err != nil {
		t.Fatal(err)
	}
	syms, _ := lstSymbols(t, b)
	for _, s := range syms {
		if s == "data" {
			t.Error("symbol data present for a deleted document")
		}
	}
	rec, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Revision.Revision.Data != nil {
		t.Error("deleted revision decoded with data")
	}
}

func TestEncodeErrors(t *testing.T) {
	addr := journal.BlockAddress{StrandID: "s"}
	cases := map[string]func() error{
		"nil block": func() error { _, err := EncodeBlockSummary(testARN, nil); return err },
		"empty ARN": func() error { _, err := EncodeBlockSummary("", testBlock()); return err },
		"short blockHash": func() error {
			b := testBlock()
			b.BlockHash = b.BlockHash[:31]
			_, err := EncodeBlockSummary(testARN, b)
			return err
		},
		"short previous": func() error {
			b := testBlock()
			b.PreviousBlockHash = []byte{1}
			_, err := EncodeBlockSummary(testARN, b)
			return err
		},
		"bad entries hash": func() error {
			b := testBlock()
			b.EntriesHashList[1] = nil
			_, err := EncodeBlockSummary(testARN, b)
			return err
		},
		"bad digest": func() error {
			b := testBlock()
			b.TransactionInfo.Statements[0].StatementDigest = nil
			_, err := EncodeBlockSummary(testARN, b)
			return err
		},
		"bad revision hash": func() error {
			b := testBlock()
			b.Revisions[2].Hash = nil
			_, err := EncodeBlockSummary(testARN, b)
			return err
		},
		"statement index": func() error {
			b := testBlock()
			b.TransactionInfo.Documents[0].Statements = []int{2}
			_, err := EncodeBlockSummary(testARN, b)
			return err
		},
		"no transaction id": func() error {
			b := testBlock()
			b.TransactionID = ""
			_, err := EncodeBlockSummary(testARN, b)
			return err
		},
		"system revision": func() error {
			r := testRevision(nil)
			r.Metadata.ID = ""
			_, err := EncodeRevisionDetails(testARN, addr, r)
			return err
		},
		"no table": func() error {
			r := testRevision(nil)
			r.TableID = ""
			_, err := EncodeRevisionDetails(testARN, addr, r)
			return err
		},
		"short hash": func() error {
			r := testRevision(nil)
			r.Hash = r.Hash[:8]
			_, err := EncodeRevisionDetails(testARN, addr, r)
			return err
		},
		"no strand": func() error {
			_, err := EncodeRevisionDetails(testARN, journal.BlockAddress{}, testRevision(nil))
			return err
		},
		"nil value in data": func() error {
			_, err := EncodeRevisionDetails(testARN, addr, testRevision(ionvalue.List(nil)))
			return err
		},
		"year 10000": func() error {
			b := testBlock()
			b.Timestamp = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
			_, err := EncodeBlockSummary(testARN, b)
			return err
		},
		"record without type": func() error { _, err := (&Record{}).Encode(); return err },
	}
	for name, f := range cases {
		err := f()
		if err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.HasPrefix(err.Error(), "record: ") {
			t.Errorf("%s: error %q lacks the package prefix", name, err)
		}
	}
}

func TestMillisecondTimestamps(t *testing.T) {
	w := newRecordEncoder()
	if err := writeTime(w, time.Date(2020, 7, 3, 20, 36, 44, 181_999_999, time.FixedZone("X", 3600))); err != nil {
		t.Fatal(err)
	}
	// 2020-07-03T19:36:44.181Z: sub-millisecond digits are truncated, the
	// offset is normalised to UTC.
	if want := "6b800fe4878393a4acc300b5"; hex.EncodeToString(w.Bytes()[4:]) != want {
		t.Errorf("got %x, want %s", w.Bytes()[4:], want)
	}
	w = newRecordEncoder()
	if err := writeTime(w, time.Date(2020, 7, 3, 20, 36, 44, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	// .000: exponent -3 and no coefficient, as ion-java writes it.
	if want := "69800fe4878394a4acc3"; hex.EncodeToString(w.Bytes()[4:]) != want {
		t.Errorf("got %x, want %s", w.Bytes()[4:], want)
	}
	v := mustDecodeOne(t, w.Bytes())
	if ionvalue.MarshalText(v) != "2020-07-03T20:36:44.000Z" {
		t.Errorf("decoded %s", ionvalue.MarshalText(v))
	}
}

func TestDecodeRejects(t *testing.T) {
	caps := loadCaptured(t)
	base := mustDecodeOne(t, caps[1].data) // a REVISION_DETAILS
	if base.Get("recordType").Text != "REVISION_DETAILS" {
		t.Fatalf("unexpected base record %s", base.Get("recordType"))
	}
	payload := base.Get("payload")
	rev := payload.Get("revision")
	withRev := func(r *ionvalue.Value) *ionvalue.Value { return base.With("payload", payload.With("revision", r)) }
	cases := map[string]*ionvalue.Value{
		"symbol recordType":  base.With("recordType", ionvalue.Symbol("REVISION_DETAILS")),
		"unknown recordType": base.With("recordType", ionvalue.String("BLOCK")),
		"unknown field":      base.With("extra", ionvalue.Int(1)),
		"missing payload":    base.Without("payload"),
		"null arn":           base.With("qldbStreamArn", ionvalue.TypedNull(ion.StringType)),
		"int hash":           withRev(rev.With("hash", ionvalue.Int(5))),
		"negative version":   withRev(rev.With("metadata", rev.Get("metadata").With("version", ionvalue.Int(-1)))),
		"missing metadata":   withRev(rev.Without("metadata")),
		"annotated":          withRev(rev.With("hash", &ionvalue.Value{Type: ion.BlobType, Bytes: hash("x"), Annotations: []string{"a"}})),
		"list top level":     ionvalue.List(base),
	}
	for name, v := range cases {
		w := newRecordEncoder()
		if err := w.WriteValue(v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, err := Decode(w.Bytes())
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "record: decode: ") {
			t.Errorf("%s: error %q lacks the prefix", name, err)
		}
	}
	two := append(append([]byte{}, caps[1].data...), caps[1].data[4:]...)
	for name, b := range map[string][]byte{
		"text":       []byte(ionvalue.MarshalText(base)),
		"two values": two,
		"truncated":  caps[1].data[:len(caps[1].data)-3],
		"empty":      nil,
	} {
		if _, err := Decode(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDecodeStatementIndexOutOfRange(t *testing.T) {
	b, err := EncodeBlockSummary(testARN, testBlock())
	if err != nil {
		t.Fatal(err)
	}
	v := mustDecodeOne(t, b)
	p := v.Get("payload")
	ti := p.Get("transactionInfo")
	docs := ti.Get("documents")
	d0 := docs.Fields[0].Value.With("statements", ionvalue.List(ionvalue.Int(7)))
	bad := v.With("payload", p.With("transactionInfo", ti.With("documents", docs.With(docs.Fields[0].Name, d0))))
	if _, err := fromValue(bad); err == nil {
		t.Error("statement index 7 accepted")
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func BenchmarkEncodeBlockSummary(b *testing.B) {
	blk := testBlock()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := EncodeBlockSummary(testARN, blk); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRevisionDetails(b *testing.B) {
	caps := loadCaptured(b)
	rec, err := Decode(caps[1].data)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(caps[1].data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := rec.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	caps := loadCaptured(b)
	b.SetBytes(int64(len(caps[0].data)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Decode(caps[0].data); err != nil {
			b.Fatal(err)
		}
	}
}
