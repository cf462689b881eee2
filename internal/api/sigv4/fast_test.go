package sigv4

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

var fastSigAt = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// sdkSignedSession returns a SendCommand request signed by the SDK signer
// the way the qldbsession client signs it, after mutate (nil: none) ran on
// it before signing.
func sdkSignedSession(t testing.TB, body []byte, mutate func(*http.Request)) *http.Request {
	r, _ := http.NewRequest("POST", "http://127.0.0.1:8080/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.0")
	r.Header.Set("X-Amz-Target", "QLDBSession.SendCommand")
	r.Header.Set("Amz-Sdk-Invocation-Id", "6d4a1c2e-0b6e-4a4e-9d55-3c0b9f1d2a11")
	r.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
	if mutate != nil {
		mutate(r)
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"}, r, hexSHA256(body), "qldb", "us-east-1", fastSigAt); err != nil {
		t.Fatal(err)
	}
	return r
}

// compareSignatures checks that where fastSignature answers, it answers what
// the SDK signer does, and reports whether it answered.
func compareSignatures(t testing.TB, r *http.Request, body []byte) bool {
	v := NewVerifier(map[string]string{"AKID": "secret"}, "us-east-1", time.Hour, func() time.Time { return fastSigAt })
	a, perr := ParseAuthorization(r.Header.Get("Authorization"))
	if perr != nil {
		return false
	}
	ph := hexSHA256(body)
	fast, ok := v.fastSignature(r, len(body), ph, a, "secret", fastSigAt)
	if !ok {
		return false
	}
	want, err := v.expectedSignature(r, len(body), ph, a, "secret", fastSigAt)
	if err != nil || fast != want {
		t.Fatalf("fast signature %s, the SDK signer computes %s (%v) for %v %v", fast, want, err, r.Header, a.SignedHeaders)
	}
	// And the fast signature is cached correctly: a second call agrees.
	if again, _ := v.fastSignature(r, len(body), ph, a, "secret", fastSigAt); again != fast {
		t.Fatalf("second fast signature %s, first %s", again, fast)
	}
	return true
}

// TestFastSignatureMatchesSDK: the direct SigV4 check takes the requests
// the SDK clients send and computes the SDK signer's signature for them;
// requests of other shapes are left to the SDK signer.
func TestFastSignatureMatchesSDK(t *testing.T) {
	body := []byte(`{"SessionToken":"tok1","StartTransaction":{}}`)
	setAuth := func(r *http.Request, old, new string) {
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
	}
	cases := []struct {
		name   string
		before func(*http.Request) // before signing
		after  func(*http.Request) // after signing
		fast   bool
	}{
		{"as the SDK sends it", nil, nil, true},
		{"content-length not signed (as a lean client may)", func(r *http.Request) { r.ContentLength = 0 }, nil, true},
		{"request ContentLength ignored (the body read counts)", nil, func(r *http.Request) { r.ContentLength = 0 }, true},
		{"header value changed after signing", nil, func(r *http.Request) { r.Header.Set("X-Amz-Target", "QLDBSession.Other") }, true},
		{"extra unsigned header", nil, func(r *http.Request) { r.Header.Set("X-Other", "1") }, true},
		{"value with inner double space", func(r *http.Request) { r.Header.Set("X-Amz-Target", "a  b") }, nil, false},
		{"value with trailing space", func(r *http.Request) { r.Header.Set("X-Amz-Target", "ab ") }, nil, false},
		{"two values", func(r *http.Request) { r.Header.Add("X-Amz-Target", "b") }, nil, false},
		{"non-ASCII value", func(r *http.Request) { r.Header.Set("X-Amz-Target", "é") }, nil, false},
		{"session token", func(r *http.Request) { r.Header.Set("X-Amz-Security-Token", "tok") }, nil, false},
		{"user-agent named", nil, func(r *http.Request) {
			r.Header.Set("User-Agent", "x")
			setAuth(r, "SignedHeaders=", "SignedHeaders=user-agent;")
		}, false},
		{"signed header missing", nil, func(r *http.Request) { r.Header.Del("Amz-Sdk-Request") }, false},
		{"names out of order", nil, func(r *http.Request) {
			setAuth(r, "amz-sdk-invocation-id;amz-sdk-request", "amz-sdk-request;amz-sdk-invocation-id")
		}, false},
		{"host not named", nil, func(r *http.Request) { setAuth(r, ";host;", ";") }, false},
		{"query string", func(r *http.Request) { r.URL.RawQuery = "a=1" }, nil, false},
		{"other path", func(r *http.Request) { r.URL.Path = "/ledgers" }, nil, false},
		{"default port", nil, func(r *http.Request) { r.Host = "strand:80" }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := sdkSignedSession(t, body, c.before)
			if c.after != nil {
				c.after(r)
			}
			if fast := compareSignatures(t, r, body); fast != c.fast {
				t.Errorf("fast path taken: %v, want %v", fast, c.fast)
			}
		})
	}
}

// FuzzFastSignature checks the direct SigV4 check against the SDK signer
// on arbitrary header values and signed-header lists.
func FuzzFastSignature(f *testing.F) {
	f.Add("QLDBSession.SendCommand", "attempt=1; max=3", "amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;host;x-amz-date;x-amz-target", "127.0.0.1:8080", []byte(`{}`))
	f.Fuzz(func(t *testing.T, target, req, signed, host string, body []byte) {
		r := sdkSignedSession(t, body, func(r *http.Request) {
			r.Host = host
			r.Header.Set("X-Amz-Target", target)
			r.Header.Set("Amz-Sdk-Request", req)
		})
		auth := r.Header.Get("Authorization")
		if i := strings.Index(auth, "SignedHeaders="); i >= 0 {
			j := strings.Index(auth[i:], ",")
			if j > 0 {
				r.Header.Set("Authorization", auth[:i]+"SignedHeaders="+signed+auth[i+j:])
			}
		}
		compareSignatures(t, r, body)
	})
}

// BenchmarkSignatureCheck measures CheckHeaders and CheckBody on a signed
// SendCommand request: through the SDK signer (sdk) and directly (fast).
func BenchmarkSignatureCheck(b *testing.B) {
	body := []byte(`{"SessionToken":"tok1","ExecuteStatement":{"TransactionId":"tx1","Statement":"INSERT INTO T VALUE {'k': ?}","Parameters":[{"IonBinary":"4AEA6iEB"}]}}`)
	r := sdkSignedSession(b, body, nil)
	r.Header.Set("X-Amz-Date", fastSigAt.Format(amzDateFormat))
	for _, mode := range []string{"sdk", "fast"} {
		b.Run(mode, func(b *testing.B) {
			v := NewVerifier(map[string]string{"AKID": "secret"}, "us-east-1", time.Hour, func() time.Time { return fastSigAt })
			b.ReportAllocs()
			for b.Loop() {
				ah, err := v.CheckHeaders(r)
				if err != nil {
					b.Fatal(err)
				}
				if mode == "sdk" {
					sum := hexSHA256(body)
					want, err := v.expectedSignature(r, len(body), sum, ah.Auth, ah.secret, ah.at)
					if err != nil || want != ah.Auth.Signature {
						b.Fatal("bad signature")
					}
					continue
				}
				if err := v.CheckBody(r, ah, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
