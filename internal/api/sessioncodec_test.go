package api

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

func decodeBoth(t *testing.T, body []byte) (fast bool) {
	t.Helper()
	var got, want sendCommandRequest
	gotErr := decodeSendCommand(body, &got)
	wantErr := decodeJSON(body, &want)
	if !reflect.DeepEqual(gotErr, wantErr) {
		t.Fatalf("%q: error %v, encoding/json gives %v", body, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Fatalf("%q: decoded %s, encoding/json gives %s", body, g, w)
	}
	var probe sendCommandRequest
	return parseSendCommand(body, &probe)
}

// TestSendCommandDecodeMatchesEncodingJSON: the fast decoder takes the
// canonical request shapes and gives, for every body, the value and error
// encoding/json gives.
func TestSendCommandDecodeMatchesEncodingJSON(t *testing.T) {
	for _, c := range sendCommandBodies {
		if fast := decodeBoth(t, []byte(c.body)); fast != c.fast {
			t.Errorf("%q: fast path %v, want %v", c.body, fast, c.fast)
		}
	}
}

// sendCommandResponses covers every response shape, with strings that
// encoding/json escapes.
func sendCommandResponses() []sendCommandResponse {
	tok, odd := "p2+/=", "a<b>&\"\\\n\u2028é\x7f"
	tm := timed{timingInformation{ProcessingTimeMilliseconds: 12}}
	var rs []sendCommandResponse
	var r sendCommandResponse
	r.StartSession = &struct {
		SessionToken string `json:"SessionToken"`
		timed
	}{"AbC+/=-9", tm}
	rs = append(rs, r)
	r = sendCommandResponse{}
	r.StartTransaction = &struct {
		TransactionId string `json:"TransactionId"`
		timed
	}{odd, tm}
	rs = append(rs, r)
	for _, p := range []page{
		{Values: []valueHolder{}},
		{Values: []valueHolder{{IonBinary: []byte{0xe0, 1, 0, 0xea}}, {IonBinary: []byte{}}, {IonText: &odd}, {IonBinary: []byte{1}, IonText: &tok}}, NextPageToken: &tok},
		{},
	} {
		r = sendCommandResponse{}
		r.ExecuteStatement = &struct {
			FirstPage   page    `json:"FirstPage"`
			ConsumedIOs ioUsage `json:"ConsumedIOs"`
			timed
		}{p, ioUsage{ReadIOs: 3, WriteIOs: -1}, tm}
		rs = append(rs, r)
		r = sendCommandResponse{}
		r.FetchPage = &struct {
			Page        page    `json:"Page"`
			ConsumedIOs ioUsage `json:"ConsumedIOs"`
			timed
		}{p, ioUsage{ReadIOs: 1 << 40}, tm}
		rs = append(rs, r)
	}
	for _, d := range [][]byte{{1, 2, 3, 4, 5}, nil, {}} {
		r = sendCommandResponse{}
		r.CommitTransaction = &struct {
			TransactionId string  `json:"TransactionId"`
			CommitDigest  []byte  `json:"CommitDigest"`
			ConsumedIOs   ioUsage `json:"ConsumedIOs"`
			timed
		}{"tx1", d, ioUsage{WriteIOs: 2}, tm}
		rs = append(rs, r)
	}
	rs = append(rs, sendCommandResponse{AbortTransaction: &tm}, sendCommandResponse{EndSession: &tm})
	return rs
}

// TestSendCommandEncodeMatchesEncodingJSON: every response is encoded byte
// for byte as json.Marshal encodes it.
func TestSendCommandEncodeMatchesEncodingJSON(t *testing.T) {
	for _, r := range sendCommandResponses() {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendSendCommand(nil, &r); !bytes.Equal(got, want) {
			t.Errorf("encoded\n%s\nencoding/json gives\n%s", got, want)
		}
	}
}

// FuzzSendCommandDecode checks the fast decoder against encoding/json on
// arbitrary bodies.
func FuzzSendCommandDecode(f *testing.F) {
	for _, c := range sendCommandBodies {
		f.Add([]byte(c.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) { decodeBoth(t, body) })
}

// FuzzSendCommandEncode checks the encoder against json.Marshal on
// arbitrary strings and bytes.
func FuzzSendCommandEncode(f *testing.F) {
	f.Add("tok", "a<b>\u2028", []byte{1, 2}, int64(5))
	f.Fuzz(func(t *testing.T, s1, s2 string, blob []byte, n int64) {
		for _, r := range []sendCommandResponse{
			{StartTransaction: &struct {
				TransactionId string `json:"TransactionId"`
				timed
			}{s1, timed{timingInformation{n}}}},
			{ExecuteStatement: &struct {
				FirstPage   page    `json:"FirstPage"`
				ConsumedIOs ioUsage `json:"ConsumedIOs"`
				timed
			}{page{Values: []valueHolder{{IonBinary: blob}, {IonText: &s2}}, NextPageToken: &s1}, ioUsage{n, -n}, timed{}}},
		} {
			want, _ := json.Marshal(r)
			if got := appendSendCommand(nil, &r); !bytes.Equal(got, want) {
				t.Fatalf("encoded\n%s\nencoding/json gives\n%s", got, want)
			}
		}
	})
}

var (
	benchCommitBody = []byte(`{"SessionToken":"AAAAAgAAAAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","ExecuteStatement":{"TransactionId":"8f3KcQeGv9A1lTm0Yx2bZe","Statement":"INSERT INTO T VALUE {'k': ?, 'v': 'some payload of a typical size'}","Parameters":[{"IonBinary":"4AEA6iEB"}]}}`)
	benchSink       sendCommandRequest
	benchResponse   = sendCommandResponses()[4]
)

// BenchmarkSendCommandDecode compares the fast decoder (fast) with
// encoding/json (json) on an ExecuteStatement request.
func BenchmarkSendCommandDecode(b *testing.B) {
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			benchSink = sendCommandRequest{}
			_ = decodeJSON(benchCommitBody, &benchSink)
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			benchSink = sendCommandRequest{}
			_ = decodeSendCommand(benchCommitBody, &benchSink)
		}
	})
}

// BenchmarkSendCommandEncode compares the direct encoder (fast) with
// json.Marshal (json) on an ExecuteStatement response.
func BenchmarkSendCommandEncode(b *testing.B) {
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
			buf = appendSendCommand(buf[:0], &benchResponse)
		}
	})
}
