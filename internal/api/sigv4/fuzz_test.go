package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// FuzzSigV4Headers feeds arbitrary Authorization, X-Amz-Date and
// X-Amz-Content-Sha256 headers and bodies to the verifier. Properties: no
// panic; every refusal is one of the four authentication errors with a
// bounded message; and an accepted request is bound to its body and its
// signature: changing one byte of either makes it refused.
func FuzzSigV4Headers(f *testing.F) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	v := NewVerifier(map[string]string{"AKID": "secret"}, "us-east-1", 15*time.Minute, func() time.Time { return at })
	sign := func(body []byte, declared string) (string, string) {
		r, _ := http.NewRequest("POST", "http://strand/ledgers", bytes.NewReader(body))
		if declared != "" {
			r.Header.Set("X-Amz-Content-Sha256", declared)
		}
		hash := declared
		if hash == "" || hash == "UNSIGNED-PAYLOAD" {
			hash = hexSHA256(body)
		}
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"}, r, hash, "qldb", "us-east-1", at); err != nil {
			f.Fatal(err)
		}
		return r.Header.Get("Authorization"), r.Header.Get("X-Amz-Date")
	}
	body := []byte(`{"Name":"l","PermissionsMode":"ALLOW_ALL"}`)
	a, d := sign(body, "")
	f.Add(a, d, "", body)
	a, d = sign(body, hexSHA256(body))
	f.Add(a, d, hexSHA256(body), body)
	a, d = sign(body, "UNSIGNED-PAYLOAD")
	f.Add(a, d, "UNSIGNED-PAYLOAD", body)
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20240506/us-east-1/qldb/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", d, "", []byte{})
	f.Add("AWS4-HMAC-SHA256 Credential=/, SignedHeaders=, Signature=", "x", "zz", []byte("x"))

	known := map[string]bool{ErrMissingToken: true, ErrIncompleteSignature: true, ErrUnrecognizedClient: true, ErrInvalidSignature: true}
	check := func(t testing.TB, authz, date, declared string, body []byte) bool {
		r, err := http.NewRequest("POST", "http://strand/ledgers", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header["Authorization"] = []string{authz}
		r.Header["X-Amz-Date"] = []string{date}
		if declared != "" {
			r.Header["X-Amz-Content-Sha256"] = []string{declared}
		}
		ah, e := v.CheckHeaders(r)
		if e == nil {
			e = v.CheckBody(r, ah, body)
		}
		if e == nil {
			return true
		}
		if !known[e.Type] || e.Message == "" || len(e.Message) > 1200 {
			t.Fatalf("refusal %s with a %d-byte message %.300q", e.Type, len(e.Message), e.Message)
		}
		return false
	}
	// The signed seeds are accepted, so the properties of accepted requests
	// below are exercised from the start.
	a, d = sign(body, hexSHA256(body))
	if !check(f, a, d, hexSHA256(body), body) {
		f.Fatal("a correctly signed request is refused")
	}
	f.Fuzz(func(t *testing.T, authz, date, declared string, body []byte) {
		if !check(t, authz, date, declared, body) {
			return
		}
		if declared != "" && declared != hexSHA256(body) {
			t.Fatalf("accepted a body whose hash is not the declared %q", declared)
		}
		if len(body) > 0 {
			other := bytes.Clone(body)
			other[len(other)/2] ^= 1
			if check(t, authz, date, declared, other) {
				t.Fatal("accepted the same signature over another body")
			}
		}
		parsed, perr := ParseAuthorization(authz)
		if perr != nil {
			t.Fatalf("accepted an Authorization header that does not parse: %v", perr)
		}
		flipped := []byte(parsed.Signature)
		flipped[0] ^= 1
		forged := strings.ReplaceAll(authz, "Signature="+parsed.Signature, "Signature="+string(flipped))
		if check(t, forged, date, declared, body) {
			t.Fatal("accepted a changed signature")
		}
	})
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
