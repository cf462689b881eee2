package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/store/memstore"
)

// The fuzz targets drive a real node (the server's handler with all its
// engines, on the in-memory store) with arbitrary requests and check that
// every answer is a well-formed success or AWS error: never a 5xx other
// than throttling, always a request id, an error type that the header and
// the body agree on, and a bounded message. For speed the handler is
// called in-process (fuzzNode.do) with each request as the server would
// have parsed it off the wire, rather than over a TCP connection, and the
// store is memstore (no disk, no fsync). One node serves every input of a
// fuzzing process. scripts/test.sh runs each for a fixed number of
// executions; `go test` runs the seeds.

// fuzzNode is a node for one fuzzing process.
type fuzzNode struct {
	*servertest.Node
	handler http.Handler
	host    string // what requests name as their host
}

// newFuzzNode starts a node on the in-memory store for one fuzzing process.
// Kinesis calls go to a closed loopback port, so nothing can leave the
// machine.
func newFuzzNode(f *testing.F) *fuzzNode {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = f.TempDir()
	cfg.KinesisEndpoint = "http://127.0.0.1:9"
	n := servertest.StartWithStore(f, cfg, memstore.New(cfg.DataDir))
	n.CreateLedger("fuzz")
	return &fuzzNode{Node: n, handler: n.Handler(), host: strings.TrimPrefix(n.URL(), "http://")}
}

// do hands a client's request to the node's handler as net/http's server
// would after reading it from a connection: the target as sent on the wire
// (ParseRequestURI of the client's RequestURI), the Host header promoted to
// Host, Content-Length kept among the headers, a non-nil body. It reports
// false for a request the server would refuse before any handler runs.
func (n *fuzzNode) do(t *testing.T, req *http.Request) (*http.Response, []byte, bool) {
	t.Helper()
	target := req.URL.RequestURI()
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, nil, false
	}
	in := req.Clone(context.Background())
	in.URL, in.RequestURI, in.Host = u, target, req.URL.Host
	in.RemoteAddr = "192.0.2.1:1234"
	in.Proto, in.ProtoMajor, in.ProtoMinor = "HTTP/1.1", 1, 1
	in.Header = req.Header.Clone()
	if in.ContentLength > 0 || (in.Body != nil && in.Body != http.NoBody) || req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch {
		in.Header.Set("Content-Length", strconv.FormatInt(in.ContentLength, 10))
	}
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	n.handler.ServeHTTP(rec, in)
	resp := rec.Result()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b, true
}

// checkAnswer asserts the properties every response must have.
func checkAnswer(t *testing.T, resp *http.Response, body []byte) {
	t.Helper()
	if resp.Header.Get("X-Amzn-RequestId") == "" {
		t.Errorf("no X-Amzn-RequestId (status %d)", resp.StatusCode)
	}
	typ := resp.Header.Get("X-Amzn-ErrorType")
	switch resp.StatusCode {
	case 200:
		if len(body) > 0 && !json.Valid(body) {
			t.Fatalf("200 with a body that is not JSON: %.300q", body)
		}
		return
	case 400, 403, 404, 405, 408, 409, 412, 413, 415:
	case 503:
		if typ != "ThrottlingException" && typ != "CapacityExceededException" {
			t.Fatalf("503 %s", typ)
		}
	default:
		t.Fatalf("status %d %s: %.500s", resp.StatusCode, typ, body)
	}
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"Message"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body is not JSON: %.300q", body)
	}
	if typ == "" || !strings.HasSuffix(e.Type, typ) || e.Message == "" || len(e.Message) > 2100 {
		t.Fatalf("malformed error: header %q, body type %q, %d-byte message %.300q", typ, e.Type, len(e.Message), e.Message)
	}
}

// FuzzControlRequest sends arbitrary rest-json control-plane requests.
func FuzzControlRequest(f *testing.F) {
	n := newFuzzNode(f)
	seeds := []struct{ method, path, query, ctype, body string }{
		{"GET", "ledgers", "", "", ""},
		{"GET", "ledgers", "max_results=2&next_token=abc", "", ""},
		{"POST", "ledgers", "", "application/json", `{"Name":"l1","PermissionsMode":"ALLOW_ALL","Tags":{"a":"b"}}`},
		{"GET", "ledgers/fuzz", "", "", ""},
		{"PATCH", "ledgers/fuzz", "", "application/json", `{"DeletionProtection":false}`},
		{"PATCH", "ledgers/fuzz/permissions-mode", "", "application/json", `{"PermissionsMode":"STANDARD"}`},
		{"POST", "ledgers/fuzz/digest", "", "application/json", ``},
		{"POST", "ledgers/fuzz/block", "", "application/json", `{"BlockAddress":{"IonText":"{strandId:\"x\",sequenceNo:0}"}}`},
		{"POST", "ledgers/fuzz/revision", "", "application/json", `{"BlockAddress":{"IonText":"{}"},"DocumentId":"x","DigestTipAddress":{"IonText":"1"}}`},
		{"GET", "ledgers/fuzz/journal-kinesis-streams", "max_results=1", "", ""},
		{"GET", "ledgers/fuzz/journal-kinesis-streams/abc", "", "", ""},
		{"GET", "tags/arn:aws:qldb:us-east-1:000000000000:ledger%2Ffuzz", "", "", ""},
		{"POST", "tags/arn:aws:qldb:us-east-1:000000000000:ledger%2Ffuzz", "", "application/json", `{"Tags":{"k":"v"}}`},
		{"DELETE", "tags/arn:aws:qldb:us-east-1:000000000000:ledger%2Ffuzz", "tagKeys=k&tagKeys=z", "", ""},
		{"PUT", "ledgers", "", "text/plain", "{"},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.ctype, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, path, query, ctype string, body []byte) {
		// Creating a stream would wait on Kinesis retries; its decoding is
		// the same as every other POST's.
		if method == http.MethodPost && strings.Contains(path, "journal-kinesis-streams") {
			return
		}
		raw := n.URL() + "/" + path
		if query != "" {
			raw += "?" + query
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host != n.host {
			return // not a URL a client could send
		}
		if _, err := http.NewRequest(method, u.String(), nil); err != nil || len(u.String()) > 8000 {
			return // not a request a client could send
		}
		for _, c := range ctype {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return // not a header value a client could send
			}
		}
		signed := signedRequest(t, method, u.String(), "", body, "AKID", "s", time.Now())
		if ctype != "" {
			signed.Header["Content-Type"] = []string{ctype}
		}
		resp, b, ok := n.do(t, signed)
		if !ok {
			return // the server refuses it before any handler
		}
		checkAnswer(t, resp, b)
	})
}

// FuzzSendCommand sends arbitrary JSON to QLDBSession.SendCommand and
// checks the answer, and that a refused command added no block. "$TOKEN"
// in the body becomes a live session token and "$TX" the id of a
// transaction started for this input (and aborted after it), so that
// statements and commits reach the engine.
func FuzzSendCommand(f *testing.F) {
	n := newFuzzNode(f)
	for _, s := range []string{
		`{"StartSession":{"LedgerName":"fuzz"}}`,
		`{"StartSession":{"LedgerName":"nope"}}`,
		`{"SessionToken":"$TOKEN","StartTransaction":{}}`,
		`{"SessionToken":"$TOKEN","ExecuteStatement":{"TransactionId":"$TX","Statement":"SELECT * FROM information_schema.user_tables"}}`,
		`{"SessionToken":"$TOKEN","ExecuteStatement":{"TransactionId":"$TX","Statement":"CREATE TABLE t"}}`,
		`{"SessionToken":"$TOKEN","ExecuteStatement":{"TransactionId":"$TX","Statement":"INSERT INTO t VALUE ?","Parameters":[{"IonText":"{a:1}"}]}}`,
		`{"SessionToken":"$TOKEN","ExecuteStatement":{"TransactionId":"$TX","Statement":"SELECT ? FROM t","Parameters":[{"IonBinary":"4AEA6g=="}]}}`,
		`{"SessionToken":"$TOKEN","FetchPage":{"TransactionId":"$TX","NextPageToken":"x"}}`,
		`{"SessionToken":"$TOKEN","CommitTransaction":{"TransactionId":"$TX","CommitDigest":"AAAA"}}`,
		`{"SessionToken":"$TOKEN","AbortTransaction":{}}`,
		`{"SessionToken":"garbage","EndSession":{}}`,
		`{"SessionToken":"$TOKEN","StartSession":{"LedgerName":"fuzz"},"EndSession":{}}`,
		`[]`, `{"StartSession":null}`, ``,
	} {
		f.Add([]byte(s))
	}
	l := n.LedgerEngine("fuzz")
	send := func(t *testing.T, body []byte) (*http.Response, []byte) {
		req := signedRequest(t, "POST", n.URL()+"/", "application/x-amz-json-1.0", body, "AKID", "s", time.Now())
		req.Header.Set("X-Amz-Target", "QLDBSession.SendCommand")
		resp, b, ok := n.do(t, req)
		if !ok {
			t.Fatal("a SendCommand request did not parse")
		}
		return resp, b
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if bytes.Contains(body, []byte("$TOKEN")) || bytes.Contains(body, []byte("$TX")) {
			// A session of its own for each input, ended afterwards.
			resp, b := send(t, []byte(`{"StartSession":{"LedgerName":"fuzz"}}`))
			var out struct{ StartSession struct{ SessionToken string } }
			if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil {
				t.Fatalf("StartSession: %d %.200s", resp.StatusCode, b)
			}
			token := out.StartSession.SessionToken
			defer send(t, []byte(`{"SessionToken":"`+token+`","EndSession":{}}`))
			body = bytes.ReplaceAll(body, []byte("$TOKEN"), []byte(token))
			if bytes.Contains(body, []byte("$TX")) {
				resp, b := send(t, []byte(`{"SessionToken":"`+token+`","StartTransaction":{}}`))
				var out struct {
					StartTransaction struct{ TransactionId string }
				}
				if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil {
					t.Fatalf("StartTransaction: %d %.200s", resp.StatusCode, b)
				}
				body = bytes.ReplaceAll(body, []byte("$TX"), []byte(out.StartTransaction.TransactionId))
			}
		}
		// Bad input changes nothing: only a successful command may add a
		// block (inputs run one at a time in a fuzzing process).
		before := l.Next()
		resp, b := send(t, body)
		checkAnswer(t, resp, b)
		if after := l.Next(); resp.StatusCode != http.StatusOK && after != before {
			t.Fatalf("a refused command (%d %.200s) added blocks %d..%d", resp.StatusCode, b, before, after-1)
		}
	})
}
