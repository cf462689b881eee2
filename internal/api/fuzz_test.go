package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
)

// The fuzz targets drive a real node over HTTP with arbitrary requests and
// check that every answer is a well-formed success or AWS error: never a
// 5xx other than throttling, always a request id, an error type that the
// header and the body agree on, and a bounded message.
// scripts/test.sh runs each for a short while; `go test` runs the seeds.

// fuzzNode starts a node for one fuzzing process. Kinesis calls go to a
// closed loopback port, so nothing can leave the machine.
func fuzzNode(f *testing.F) *servertest.Node {
	n := servertest.Start(f, func(c *config.Config) { c.KinesisEndpoint = "http://127.0.0.1:9" })
	n.CreateLedger("fuzz")
	return n
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

func roundTrip(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// FuzzControlRequest sends arbitrary rest-json control-plane requests.
func FuzzControlRequest(f *testing.F) {
	n := fuzzNode(f)
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
		if err != nil || u.Host != strings.TrimPrefix(n.URL(), "http://") {
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
		resp, b := roundTrip(t, signed)
		checkAnswer(t, resp, b)
	})
}

// FuzzSendCommand sends arbitrary JSON to QLDBSession.SendCommand and
// checks the answer, and that a refused command added no block. "$TOKEN"
// in the body becomes a live session token and "$TX" the id of a
// transaction started for this input (and aborted after it), so that
// statements and commits reach the engine.
func FuzzSendCommand(f *testing.F) {
	n := fuzzNode(f)
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
		return roundTrip(t, req)
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
