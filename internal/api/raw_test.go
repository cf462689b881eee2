package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	"github.com/aws/aws-sdk-go-v2/service/qldb/types"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server"
	"github.com/strand-db/strand/internal/server/servertest"
)

func openNode(cfg config.Config) (*server.Node, error) { return server.Open(cfg, nil) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// signedRequest builds a request signed for the qldb service at time t.
func signedRequest(t *testing.T, method, url, contentType string, body []byte, key, secret string, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	sum := sha256.Sum256(body)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, req, hex.EncodeToString(sum[:]), "qldb", "us-east-1", at)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

type rawError struct {
	status  int
	header  string
	Type    string `json:"__type"`
	Message string `json:"Message"`
}

func do(t *testing.T, req *http.Request) rawError {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e rawError
	if resp.StatusCode != 200 {
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("error body is not JSON: %q", b)
		}
	}
	e.status = resp.StatusCode
	e.header = resp.Header.Get("X-Amzn-ErrorType")
	return e
}

func TestMalformedRequests(t *testing.T) {
	n := servertest.Start(t, nil)
	u := n.URL()
	big := bytes.Repeat([]byte("x"), 9<<20)
	cases := []struct {
		name, method, path, ctype string
		body                      []byte
		status                    int
		typ                       string
	}{
		{"unknown route", "GET", "/nothing/here", "", nil, 404, "UnknownOperationException"},
		{"wrong method", "PUT", "/ledgers", "application/json", []byte(`{}`), 405, "MethodNotAllowedException"},
		{"malformed json", "POST", "/ledgers", "application/json", []byte(`{"Name":`), 400, "SerializationException"},
		{"wrong member type", "POST", "/ledgers", "application/json", []byte(`{"Name": 7, "PermissionsMode": "ALLOW_ALL"}`), 400, "SerializationException"},
		{"two documents", "POST", "/ledgers", "application/json", []byte(`{} {}`), 400, "SerializationException"},
		{"wrong content type", "POST", "/ledgers", "text/plain", []byte(`{"Name":"x","PermissionsMode":"ALLOW_ALL"}`), 415, "UnsupportedMediaTypeException"},
		{"oversized body", "POST", "/ledgers", "application/json", big, 413, "RequestEntityTooLargeException"},
		{"missing PermissionsMode", "POST", "/ledgers", "application/json", []byte(`{"Name":"x"}`), 400, "InvalidParameterException"},
		{"bad max_results", "GET", "/ledgers?max_results=abc", "", nil, 400, "InvalidParameterException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := signedRequest(t, tc.method, u+tc.path, tc.ctype, tc.body, "AKID", "s", time.Now())
			e := do(t, req)
			if e.status != tc.status || e.Type != tc.typ || e.header != tc.typ || e.Message == "" {
				t.Errorf("got %d %q (header %q) %q; want %d %s", e.status, e.Type, e.header, e.Message, tc.status, tc.typ)
			}
		})
	}
	// None of that created anything.
	l, err := n.QLDB("a", "b").ListLedgers(ctx, &qldb.ListLedgersInput{})
	if err != nil || len(l.Ledgers) != 0 {
		t.Fatalf("%v %+v", err, l)
	}
}

func TestAuthentication(t *testing.T) {
	n := servertest.Start(t, func(c *config.Config) {
		c.AccessKeyID, c.SecretAccessKey = servertest.AccessKeyID, servertest.SecretAccessKey
	})
	good := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	if _, err := good.CreateLedger(ctx, &qldb.CreateLedgerInput{Name: aws.String("authed"), PermissionsMode: types.PermissionsModeAllowAll}); err != nil {
		t.Fatalf("correctly signed request refused: %v", err)
	}
	// A request whose path needs escaping (an ARN) verifies too.
	if _, err := good.ListTagsForResource(ctx, &qldb.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:qldb:us-east-1:000000000000:ledger/authed")}); err != nil {
		t.Fatalf("escaped path: %v", err)
	}
	if _, err := good.ListLedgers(ctx, &qldb.ListLedgersInput{MaxResults: aws.Int32(5)}); err != nil {
		t.Fatalf("query string: %v", err)
	}

	_, err := n.QLDB(servertest.AccessKeyID, "wrong-secret").ListLedgers(ctx, &qldb.ListLedgersInput{})
	servertest.WantAPIError(t, err, "InvalidSignatureException", 403)
	_, err = n.QLDB("AKIDUNKNOWN", servertest.SecretAccessKey).ListLedgers(ctx, &qldb.ListLedgersInput{})
	servertest.WantAPIError(t, err, "UnrecognizedClientException", 403)
	// The session API is verified the same way.
	_, err = n.Session(servertest.AccessKeyID, "wrong-secret").SendCommand(ctx, &qldbsession.SendCommandInput{})
	servertest.WantAPIError(t, err, "InvalidSignatureException", 403)

	for _, tc := range []struct {
		name string
		req  func() *http.Request
		typ  string
		code int
	}{
		{"missing signature", func() *http.Request { r, _ := http.NewRequest("GET", n.URL()+"/ledgers", nil); return r }, "MissingAuthenticationTokenException", 403},
		{"stale date", func() *http.Request {
			return signedRequest(t, "GET", n.URL()+"/ledgers", "", nil, servertest.AccessKeyID, servertest.SecretAccessKey, time.Now().Add(-20*time.Minute))
		}, "InvalidSignatureException", 403},
		{"future date", func() *http.Request {
			return signedRequest(t, "GET", n.URL()+"/ledgers", "", nil, servertest.AccessKeyID, servertest.SecretAccessKey, time.Now().Add(20*time.Minute))
		}, "InvalidSignatureException", 403},
		{"tampered body", func() *http.Request {
			r := signedRequest(t, "POST", n.URL()+"/ledgers", "application/json", []byte(`{"Name":"a","PermissionsMode":"ALLOW_ALL"}`), servertest.AccessKeyID, servertest.SecretAccessKey, time.Now())
			r.Body = io.NopCloser(strings.NewReader(`{"Name":"b","PermissionsMode":"ALLOW_ALL"}`))
			return r
		}, "InvalidSignatureException", 403},
		{"malformed header", func() *http.Request {
			r, _ := http.NewRequest("GET", n.URL()+"/ledgers", nil)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
			return r
		}, "IncompleteSignatureException", 400},
		{"thousands of signed headers", func() *http.Request {
			// A known key, a current date, a forged signature and 7,000
			// names: refused before any of them is canonicalized.
			r := signedRequest(t, "GET", n.URL()+"/ledgers", "", nil, servertest.AccessKeyID, servertest.SecretAccessKey, time.Now())
			names := make([]string, 7000)
			for i := range names {
				names[i] = fmt.Sprintf("x-h%04d", i)
			}
			auth := r.Header.Get("Authorization")
			start := strings.Index(auth, "SignedHeaders=") + len("SignedHeaders=")
			end := start + strings.Index(auth[start:], ",")
			r.Header.Set("Authorization", auth[:start]+strings.Join(names, ";")+auth[end:])
			return r
		}, "IncompleteSignatureException", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := do(t, tc.req())
			if e.status != tc.code || e.Type != tc.typ || e.Message == "" {
				t.Errorf("got %d %s %q, want %d %s", e.status, e.Type, e.Message, tc.code, tc.typ)
			}
		})
	}
	// A skewed request within 15 minutes is fine.
	e := do(t, signedRequest(t, "GET", n.URL()+"/ledgers", "", nil, servertest.AccessKeyID, servertest.SecretAccessKey, time.Now().Add(-10*time.Minute)))
	if e.status != 200 {
		t.Errorf("10-minute skew refused: %+v", e)
	}
	l, err := good.ListLedgers(ctx, &qldb.ListLedgersInput{})
	if err != nil || len(l.Ledgers) != 1 {
		t.Fatalf("refused requests changed state: %v %+v", err, l)
	}
}

func TestNoCredentialsOnlyOnLoopback(t *testing.T) {
	cfg := config.Default()
	cfg.Listen = "0.0.0.0:0"
	cfg.DataDir = t.TempDir()
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "without credentials") {
		t.Fatalf("non-loopback listen without credentials: %v", err)
	}
	cfg.AccessKeyID, cfg.SecretAccessKey = "a", "b"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("with credentials: %v", err)
	}
	// Without credentials any well-formed signature works on loopback, but a
	// missing one does not.
	n := servertest.Start(t, nil)
	r, _ := http.NewRequest("GET", n.URL()+"/ledgers", nil)
	if e := do(t, r); e.status != 403 || e.Type != "MissingAuthenticationTokenException" {
		t.Errorf("unsigned request: %+v", e)
	}
}

func TestTimestampMemberMustBeEpochSeconds(t *testing.T) {
	n := servertest.Start(t, nil)
	n.CreateLedger("ts")
	body := []byte(`{"RoleArn":"arn:aws:iam::000000000000:role/r","StreamName":"s","InclusiveStartTime":"2024-01-01T00:00:00Z","KinesisConfiguration":{"StreamArn":"arn:aws:kinesis:us-east-1:000000000000:stream/x"}}`)
	e := do(t, signedRequest(t, "POST", n.URL()+"/ledgers/ts/journal-kinesis-streams", "application/json", body, "AKID", "s", time.Now()))
	if e.status != 400 || e.Type != "SerializationException" || !strings.Contains(e.Message, "InclusiveStartTime") || !strings.Contains(e.Message, "seconds since the epoch") {
		t.Errorf("got %d %s %q", e.status, e.Type, e.Message)
	}
}
