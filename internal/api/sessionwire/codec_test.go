package sessionwire

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// sendCommandBodies are requests as the SDKs send them, and bodies the fast
// path must leave to encoding/json (fast=false).
var sendCommandBodies = []struct {
	body string
	fast bool
}{
	{`{"StartSession":{"LedgerName":"bench"}}`, true},
	{`{"SessionToken":"AbC+/=-9","StartTransaction":{}}`, true},
	{`{"SessionToken":"tok1","ExecuteStatement":{"TransactionId":"tx1","Statement":"INSERT INTO T VALUE {'k': ?}","Parameters":[{"IonBinary":"4AEA6iEB"}]}}`, true},
	{`{"SessionToken":"tok1","ExecuteStatement":{"TransactionId":"tx1","Statement":"SELECT * FROM T","Parameters":[]}}`, true},
	{`{"SessionToken":"tok1","ExecuteStatement":{"TransactionId":"tx1","Statement":"SELECT ?","Parameters":[{"IonText":"{a:1}"},{"IonBinary":""}]}}`, true},
	{` { "SessionToken" : "tok1" , "CommitTransaction" : { "TransactionId" : "tx1" , "CommitDigest" : "AAEC" } } `, true},
	{`{"SessionToken":"tok1","FetchPage":{"TransactionId":"tx1","NextPageToken":"p2"}}`, true},
	{`{"SessionToken":"tok1","AbortTransaction":{}}`, true},
	{`{"SessionToken":"tok1","EndSession":{}}`, true},
	{`{"SessionToken":"tok1","ExecuteStatement":{"Statement":"SELECT 'é' FROM T"}}`, true},
	{`{"StartSession":{}}`, true},
	{`{}`, true},
	// Left to encoding/json: its answers (values or errors) must not change.
	{``, false},
	{`   `, false},
	{`null`, false},
	{`{"sessiontoken":"tok1","EndSession":{}}`, false},
	{`{"SessionToken":"a","SessionToken":"b","EndSession":{}}`, false},
	{`{"SessionToken":null,"EndSession":{}}`, false},
	{`{"SessionToken":"tok1","ExecuteStatement":{"TransactionId":"tx1","Statement":"SELECT \"x\"\n"}}`, false},
	{`{"SessionToken":"tok1","ExecuteStatement":{"Parameters":null}}`, false},
	{`{"SessionToken":"tok1","ExecuteStatement":{"Parameters":[{"IonBinary":"!!"}]}}`, false},
	{`{"SessionToken":"tok1","CommitTransaction":{"CommitDigest":"AAE"}}`, false},
	{`{"SessionToken":"tok1","StartTransaction":{"x":1}}`, false},
	{`{"SessionToken":"tok1","Unknown":1,"EndSession":{}}`, false},
	{`{"SessionToken":"tok1","EndSession":{}} {}`, false},
	{`{"SessionToken":"tok1","EndSession":{}`, false},
	{`{"SessionToken":12,"EndSession":{}}`, false},
	{"{\"SessionToken\":\"\xff\",\"EndSession\":{}}", false},
	{`[1]`, false},
}

// jsonDecode decodes body as the api package's decodeJSON does (one JSON
// value, nothing after it); ok is false where it would answer an error.
func jsonDecode(body []byte, v *Request) (ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return dec.Decode(v) == nil && !dec.More()
}

// decodeBoth checks Parse against encoding/json on body and reports
// whether Parse took it: whatever it takes, encoding/json decodes without
// an error to the same Request.
func decodeBoth(t *testing.T, body []byte) (fast bool) {
	t.Helper()
	var got, want Request
	if !Parse(body, &got) {
		return false
	}
	if !jsonDecode(body, &want) {
		t.Fatalf("%q: Parse took a body encoding/json refuses", body)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Fatalf("%q: decoded %s, encoding/json gives %s", body, g, w)
	}
	return true
}

// TestParseMatchesEncodingJSON: the fast decoder takes the
// canonical request shapes and gives, for every body, the value and error
// encoding/json gives.
func TestParseMatchesEncodingJSON(t *testing.T) {
	for _, c := range sendCommandBodies {
		if fast := decodeBoth(t, []byte(c.body)); fast != c.fast {
			t.Errorf("%q: fast path %v, want %v", c.body, fast, c.fast)
		}
	}
}

// sendCommandResponses covers every response shape, with strings that
// encoding/json escapes.
func sendCommandResponses() []Response {
	tok, odd := "p2+/=", "a<b>&\"\\\n\u2028é\x7f"
	tm := Timed{TimingInformation{ProcessingTimeMilliseconds: 12}}
	var rs []Response
	var r Response
	r.StartSession = &StartSessionResult{"AbC+/=-9", tm}
	rs = append(rs, r)
	r = Response{}
	r.StartTransaction = &StartTransactionResult{odd, tm}
	rs = append(rs, r)
	for _, p := range []Page{
		{Values: []ValueHolder{}},
		{Values: []ValueHolder{{IonBinary: []byte{0xe0, 1, 0, 0xea}}, {IonBinary: []byte{}}, {IonText: &odd}, {IonBinary: []byte{1}, IonText: &tok}}, NextPageToken: &tok},
		{},
	} {
		r = Response{}
		r.ExecuteStatement = &ExecuteStatementResult{p, IOUsage{ReadIOs: 3, WriteIOs: -1}, tm}
		rs = append(rs, r)
		r = Response{}
		r.FetchPage = &FetchPageResult{p, IOUsage{ReadIOs: 1 << 40}, tm}
		rs = append(rs, r)
	}
	for _, d := range [][]byte{{1, 2, 3, 4, 5}, nil, {}} {
		r = Response{}
		r.CommitTransaction = &CommitTransactionResult{"tx1", d, IOUsage{WriteIOs: 2}, tm}
		rs = append(rs, r)
	}
	rs = append(rs, Response{AbortTransaction: &tm}, Response{EndSession: &tm})
	return rs
}

// TestAppendMatchesEncodingJSON: every response is encoded byte
// for byte as json.Marshal encodes it.
func TestAppendMatchesEncodingJSON(t *testing.T) {
	for _, r := range sendCommandResponses() {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := Append(nil, &r); !bytes.Equal(got, want) {
			t.Errorf("encoded\n%s\nencoding/json gives\n%s", got, want)
		}
	}
}

// FuzzParse checks the fast decoder against encoding/json on arbitrary
// bodies.
func FuzzParse(f *testing.F) {
	for _, c := range sendCommandBodies {
		f.Add([]byte(c.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) { decodeBoth(t, body) })
}

// FuzzAppend checks the encoder against json.Marshal on arbitrary strings
// and bytes.
func FuzzAppend(f *testing.F) {
	f.Add("tok", "a<b>\u2028", []byte{1, 2}, int64(5))
	f.Fuzz(func(t *testing.T, s1, s2 string, blob []byte, n int64) {
		for _, r := range []Response{
			{StartTransaction: &StartTransactionResult{s1, Timed{TimingInformation{n}}}},
			{ExecuteStatement: &ExecuteStatementResult{Page{Values: []ValueHolder{{IonBinary: blob}, {IonText: &s2}}, NextPageToken: &s1}, IOUsage{n, -n}, Timed{}}},
		} {
			want, _ := json.Marshal(r)
			if got := Append(nil, &r); !bytes.Equal(got, want) {
				t.Fatalf("encoded\n%s\nencoding/json gives\n%s", got, want)
			}
		}
	})
}

var (
	benchCommitBody = []byte(`{"SessionToken":"AAAAAgAAAAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","ExecuteStatement":{"TransactionId":"8f3KcQeGv9A1lTm0Yx2bZe","Statement":"INSERT INTO T VALUE {'k': ?, 'v': 'some payload of a typical size'}","Parameters":[{"IonBinary":"4AEA6iEB"}]}}`)
	benchSink       Request
	benchResponse   = sendCommandResponses()[4]
)

// BenchmarkParse compares the fast decoder (fast) with encoding/json (json)
// on an ExecuteStatement request.
func BenchmarkParse(b *testing.B) {
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			benchSink = Request{}
			_ = jsonDecode(benchCommitBody, &benchSink)
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			benchSink = Request{}
			_ = Parse(benchCommitBody, &benchSink)
		}
	})
}

// BenchmarkAppend compares the direct encoder (fast) with json.Marshal
// (json) on an ExecuteStatement response.
func BenchmarkAppend(b *testing.B) {
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(benchResponse)
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf = Append(buf[:0], &benchResponse)
		}
	})
}
