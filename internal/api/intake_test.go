package api_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/qldb"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv"
)

// signedWithDeclaredHash signs a request whose X-Amz-Content-Sha256 header
// declares payloadHash, which is also the hash the signature covers: the way
// S3-style clients sign, and what a captured request carries.
func signedWithDeclaredHash(t *testing.T, url string, body []byte, payloadHash string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: servertest.AccessKeyID, SecretAccessKey: servertest.SecretAccessKey},
		req, payloadHash, "qldb", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// A captured request replayed with another body of the same length and the
// original headers must be refused: the server hashes the body it received.
func TestReplayWithSwappedBodyIsRefused(t *testing.T) {
	n := servertest.Start(t, func(c *config.Config) {
		c.AccessKeyID, c.SecretAccessKey = servertest.AccessKeyID, servertest.SecretAccessKey
	})
	orig := []byte(`{"Name":"orig","PermissionsMode":"ALLOW_ALL"}`)
	evil := []byte(`{"Name":"evil","PermissionsMode":"ALLOW_ALL"}`)
	req := signedWithDeclaredHash(t, n.URL()+"/ledgers", orig, sha256Hex(orig))
	req.Body = io.NopCloser(bytes.NewReader(evil))
	if e := do(t, req); e.status != 403 || e.Type != "InvalidSignatureException" || !strings.Contains(e.Message, "x-amz-content-sha256") {
		t.Errorf("swapped body: got %d %s %q", e.status, e.Type, e.Message)
	}
	// UNSIGNED-PAYLOAD is S3's; QLDB signs the real body hash.
	unsigned := []byte(`{"Name":"unsigned","PermissionsMode":"ALLOW_ALL"}`)
	if e := do(t, signedWithDeclaredHash(t, n.URL()+"/ledgers", unsigned, "UNSIGNED-PAYLOAD")); e.status != 403 || e.Type != "InvalidSignatureException" {
		t.Errorf("UNSIGNED-PAYLOAD: got %d %s %q", e.status, e.Type, e.Message)
	}
	// The original request with its own body still works.
	if e := do(t, signedWithDeclaredHash(t, n.URL()+"/ledgers", orig, sha256Hex(orig))); e.status != 200 {
		t.Fatalf("original request: %+v", e)
	}
	l, err := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey).ListLedgers(ctx, &qldb.ListLedgersInput{})
	if err != nil || len(l.Ledgers) != 1 || *l.Ledgers[0].Name != "orig" {
		t.Fatalf("refused requests changed state: %v %+v", err, l)
	}
}

// Without credentials (loopback) the signature is not checked, but a body
// that does not match its declared hash is still refused.
func TestDeclaredHashCheckedWithoutCredentials(t *testing.T) {
	n := servertest.Start(t, nil)
	orig := []byte(`{"Name":"orig","PermissionsMode":"ALLOW_ALL"}`)
	req := signedWithDeclaredHash(t, n.URL()+"/ledgers", orig, sha256Hex(orig))
	req.Body = io.NopCloser(strings.NewReader(`{"Name":"evil","PermissionsMode":"ALLOW_ALL"}`))
	if e := do(t, req); e.status != 403 || e.Type != "InvalidSignatureException" {
		t.Errorf("swapped body: got %d %s %q", e.status, e.Type, e.Message)
	}
	l, err := n.QLDB("a", "b").ListLedgers(ctx, &qldb.ListLedgersInput{})
	if err != nil || len(l.Ledgers) != 0 {
		t.Fatalf("refused request changed state: %v %+v", err, l)
	}
}

// rawHead is the head of a POST /ledgers request with a well-formed
// Authorization header for key (the signature itself is not valid) and a
// declared Content-Length.
func rawHead(key string, contentLength int) string {
	now := time.Now().UTC()
	return fmt.Sprintf("POST /ledgers HTTP/1.1\r\nHost: strand\r\nContent-Type: application/json\r\nX-Amz-Date: %s\r\n"+
		"Authorization: AWS4-HMAC-SHA256 Credential=%s/%s/us-east-1/qldb/aws4_request, SignedHeaders=host;x-amz-date, Signature=00\r\n"+
		"Content-Length: %d\r\n\r\n", now.Format("20060102T150405Z"), key, now.Format("20060102"), contentLength)
}

// dialRaw opens a TCP connection to n that gives up reading after a generous
// safety bound, so that a server that never answers fails the test instead
// of hanging it.
func dialRaw(t *testing.T, n *servertest.Node) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(n.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	return c
}

// readAnswer reads one response from c and then checks that the server
// closed the connection.
func readAnswer(t *testing.T, c net.Conn) *http.Response {
	t.Helper()
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("connection not closed after the answer: %v", err)
	}
	return resp
}

// answered reports whether the server has written to (or closed) c, whose
// request is incomplete: that is, whether it refused the request.
func answered(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	defer func() { _ = c.SetReadDeadline(time.Now().Add(15 * time.Second)) }()
	var b [1]byte
	n, err := c.Read(b[:])
	return n > 0 || !errors.Is(err, os.ErrDeadlineExceeded)
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !errors.Is(err, os.ErrDeadlineExceeded)
}

// A client that sends its headers and then trickles (here: stops sending)
// its body is disconnected after the body-read timeout.
func TestSlowBodyIsCutOff(t *testing.T) {
	n := servertest.Start(t, func(c *config.Config) { c.BodyReadTimeout = 300 * time.Millisecond })
	c := dialRaw(t, n)
	if _, err := io.WriteString(c, rawHead("AKID", 1000)+`{"Name":"slow",`); err != nil {
		t.Fatal(err)
	}
	resp := readAnswer(t, c)
	if resp.StatusCode != 408 || resp.Header.Get("X-Amzn-ErrorType") != "RequestTimeoutException" {
		t.Errorf("got %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
}

// A request with an unknown access key (or otherwise refused from its
// headers) is answered without the server reading its body: here the client
// declares 8 MiB and sends none of it.
func TestUnauthenticatedBodyIsNotRead(t *testing.T) {
	n := servertest.Start(t, func(c *config.Config) {
		c.AccessKeyID, c.SecretAccessKey = servertest.AccessKeyID, servertest.SecretAccessKey
	})
	for _, tc := range []struct{ key, typ string }{
		{"AKIDUNKNOWN", "UnrecognizedClientException"},
		{"AKID/x", "IncompleteSignatureException"},
	} {
		c := dialRaw(t, n)
		if _, err := io.WriteString(c, rawHead(tc.key, 8<<20-1)); err != nil {
			t.Fatal(err)
		}
		resp := readAnswer(t, c)
		if resp.Header.Get("X-Amzn-ErrorType") != tc.typ {
			t.Errorf("key %s: got %d %s, want %s", tc.key, resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), tc.typ)
		}
	}
}

// Bodies being received count against --max-inflight-body-bytes: while one
// client holds the whole budget with a half-sent body, other requests with
// bodies get 503 ThrottlingException; once it is done they pass again.
func TestInflightBodyBytesAreBounded(t *testing.T) {
	n := servertest.Start(t, func(c *config.Config) { c.MaxInflightBodyBytes = 1 << 20 })
	var c net.Conn
	sendBigHead := func() {
		c = dialRaw(t, n)
		if _, err := io.WriteString(c, rawHead("AKID", 1<<20)+`{"Name":"big",`); err != nil {
			t.Fatal(err)
		}
	}
	sendBigHead()
	small := []byte(`{"Name":"small","PermissionsMode":"ALLOW_ALL"}`)
	// The server may not have taken the big request yet; on a loaded
	// machine that can take a while, so wait on the condition, not a count.
	// If a small request was served before the server read the big one's
	// headers, the big one was the one refused (it came second): send it
	// again.
	testenv.Await(t, 60*time.Second, func() error {
		e := do(t, signedRequest(t, "POST", n.URL()+"/ledgers", "application/json", small, "AKID", "s", time.Now()))
		if e.status == 503 && e.Type == "ThrottlingException" && e.header == "ThrottlingException" {
			return nil
		}
		if e.status != 409 && e.status != 200 {
			t.Fatalf("unexpected answer: %+v", e)
		}
		if answered(c) {
			sendBigHead()
		}
		return errors.New("a request was admitted while another held the whole in-flight body budget")
	})
	// Finish the big body (the ledger name is fine; padding is whitespace).
	rest := `"PermissionsMode":"ALLOW_ALL"}`
	pad := 1<<20 - len(`{"Name":"big",`) - len(rest)
	if _, err := io.WriteString(c, strings.Repeat(" ", pad)+rest); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("big request: %v %v", err, resp)
	}
	resp.Body.Close()
	if e := do(t, signedRequest(t, "GET", n.URL()+"/ledgers/big", "", nil, "AKID", "s", time.Now())); e.status != 200 {
		t.Fatalf("after the big request: %+v", e)
	}
	if e := do(t, signedRequest(t, "POST", n.URL()+"/ledgers", "application/json", []byte(`{"Name":"after","PermissionsMode":"ALLOW_ALL"}`), "AKID", "s", time.Now())); e.status != 200 {
		t.Fatalf("budget not released: %+v", e)
	}
}

// Error messages repeat at most a bounded prefix of an input.
func TestLongInputsAreNotEchoed(t *testing.T) {
	n := servertest.Start(t, nil)
	long := strings.Repeat("a", 100_000)
	for _, tc := range []struct {
		name, method, path, ctype, target string
		body                              string
	}{
		{"CreateLedger name", "POST", "/ledgers", "application/json", "", `{"Name":"` + long + `","PermissionsMode":"ALLOW_ALL"}`},
		{"PermissionsMode", "POST", "/ledgers", "application/json", "", `{"Name":"x","PermissionsMode":"` + long + `"}`},
		{"DescribeLedger path", "GET", "/ledgers/" + long[:30_000], "", "", ""},
		{"content type", "POST", "/ledgers", "text/" + long[:30_000], "", `{}`},
		{"session target", "POST", "/", "application/x-amz-json-1.0", "QLDBSession." + long[:30_000], `{}`},
		{"StartSession ledger", "POST", "/", "application/x-amz-json-1.0", "QLDBSession.SendCommand", `{"StartSession":{"LedgerName":"` + long + `"}}`},
		{"tag key", "POST", "/tags/arn:aws:qldb:us-east-1:000000000000:ledger%2Fx", "application/json", "", `{"Tags":{"` + long + `":"v"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := signedRequest(t, tc.method, n.URL()+tc.path, tc.ctype, []byte(tc.body), "AKID", "s", time.Now())
			if tc.target != "" {
				req.Header.Set("X-Amz-Target", tc.target)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 400 || len(b) > 3000 || !bytes.Contains(b, []byte("bytes)")) {
				t.Errorf("got %d with a %d-byte body: %.300s", resp.StatusCode, len(b), b)
			}
		})
	}
}
