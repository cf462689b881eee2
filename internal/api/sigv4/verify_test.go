package sigv4

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSignedHeadersBounded: a request signed with MaxSignedHeaders headers
// (the SDK signer adds host, content-length and x-amz-date to the
// ones it is given) is
// verified; one more is refused before any signing work, as an incomplete
// signature; and a forged Authorization header listing thousands of names
// under a known access key is refused the same way, whatever its signature.
func TestSignedHeadersBounded(t *testing.T) {
	body := []byte(`{"SessionToken":"tok1","StartTransaction":{}}`)
	v := NewVerifier(map[string]string{"AKID": "secret"}, "us-east-1", time.Hour, func() time.Time { return fastSigAt })
	withHeaders := func(n int) *http.Request {
		return sdkSignedSession(t, body, func(r *http.Request) {
			// sdkSignedSession sets four headers; the signer adds host,
			// content-length and x-amz-date.
			for i := 0; i < n-7; i++ {
				r.Header.Set(fmt.Sprintf("X-Extra-%03d", i), "v")
			}
		})
	}
	check := func(r *http.Request) (string, string) {
		ah, err := v.CheckHeaders(r)
		if err == nil {
			err = v.CheckBody(r, ah, body)
		}
		if err != nil {
			return err.Type, err.Message
		}
		return "", ""
	}
	signedCount := func(r *http.Request) int {
		m := regexp.MustCompile(`SignedHeaders=([^,]*)`).FindStringSubmatch(r.Header.Get("Authorization"))
		return strings.Count(m[1], ";") + 1
	}

	atBound := withHeaders(MaxSignedHeaders)
	if n := signedCount(atBound); n != MaxSignedHeaders {
		t.Fatalf("the request signs %d headers, want %d", n, MaxSignedHeaders)
	}
	if typ, msg := check(atBound); typ != "" {
		t.Fatalf("a request signing %d headers was refused: %s: %s", MaxSignedHeaders, typ, msg)
	}

	over := withHeaders(MaxSignedHeaders + 1)
	if n := signedCount(over); n != MaxSignedHeaders+1 {
		t.Fatalf("the request signs %d headers, want %d", n, MaxSignedHeaders+1)
	}
	if typ, msg := check(over); typ != ErrIncompleteSignature || !strings.Contains(msg, "at most 64") {
		t.Fatalf("a request signing %d headers: got %q %q, want %s naming the bound", MaxSignedHeaders+1, typ, msg, ErrIncompleteSignature)
	}

	// The attack: a correctly scoped, current Authorization header of a
	// known key, listing 10,000 names, with a made-up signature.
	forged := sdkSignedSession(t, body, nil)
	names := make([]string, 10000)
	for i := range names {
		names[i] = fmt.Sprintf("x-h%05d", i)
	}
	auth := regexp.MustCompile(`SignedHeaders=[^,]*`).ReplaceAllString(forged.Header.Get("Authorization"), "SignedHeaders="+strings.Join(names, ";"))
	auth = regexp.MustCompile(`Signature=[0-9a-f]*`).ReplaceAllString(auth, "Signature="+strings.Repeat("0", 64))
	forged.Header.Set("Authorization", auth)
	if typ, msg := check(forged); typ != ErrIncompleteSignature || !strings.Contains(msg, "10000") {
		t.Fatalf("forged header with 10,000 signed names: got %q %q, want %s", typ, msg, ErrIncompleteSignature)
	}
	if _, perr := ParseAuthorization(auth); perr == nil || perr.Type != ErrIncompleteSignature {
		t.Fatalf("ParseAuthorization accepted 10,000 signed names: %v", perr)
	}
}
