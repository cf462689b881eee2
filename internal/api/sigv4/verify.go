// Package sigv4 verifies AWS Signature Version 4 on the requests the
// server receives, in two steps: CheckHeaders before the body is read (so
// an unknown key or a stale date costs the server no body), CheckBody once
// it is. It holds no state but the credentials and a cache of derived
// signing keys.
package sigv4

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/strand-db/strand/internal/qldberr"
)

// signingName is the SigV4 service name of both QLDB APIs.
const signingName = "qldb"

const amzDateFormat = "20060102T150405Z"

// MaxSignedHeaders bounds the names a request's SignedHeaders may list.
// The AWS SDKs and CLI sign fewer than ten; without a bound, a client that
// knows an access key id (not its secret) could list thousands of names in
// a 64 KiB header block and make the server canonicalize each one before
// refusing the forged signature.
const MaxSignedHeaders = 64

// Authentication error types, as AWS names them. The HTTP status of each
// is the caller's to choose (AWS answers 403, and 400 for an incomplete
// signature).
const (
	ErrMissingToken        = "MissingAuthenticationTokenException"
	ErrIncompleteSignature = "IncompleteSignatureException"
	ErrUnrecognizedClient  = "UnrecognizedClientException"
	ErrInvalidSignature    = "InvalidSignatureException"
)

// Verifier checks AWS Signature Version 4 on incoming requests: directly
// for the common shape of request (fastSignature) and otherwise by
// recomputing the signature with the AWS SDK's own signer, comparing in
// constant time either way. It is safe for concurrent use.
type Verifier struct {
	creds  map[string]string // access key id -> secret; empty: accept any well-formed signature
	region string
	skew   time.Duration
	now    func() time.Time
	signer *v4.Signer
	keys   signingKeys // derived signing keys of fastSignature
}

// NewVerifier returns a Verifier of the given credentials (access key id to
// secret; none: every well-formed signature is accepted unchecked, for a
// server that listens on loopback only) for requests scoped to region,
// whose signing time is within skew of now (nil: time.Now).
func NewVerifier(creds map[string]string, region string, skew time.Duration, now func() time.Time) *Verifier {
	if now == nil {
		now = time.Now
	}
	return &Verifier{creds: creds, region: region, skew: skew, now: now, signer: v4.NewSigner()}
}

// Authorization is a parsed Authorization header.
type Authorization struct {
	AccessKey     string
	Date          string // yyyymmdd of the scope
	Region        string
	Service       string
	SignedHeaders []string // lower case, in the order given
	Signature     string
}

func authError(typ, format string, args ...any) *qldberr.Error {
	return qldberr.New(typ, format, args...)
}

// ParseAuthorization parses an AWS4-HMAC-SHA256 Authorization header. It
// refuses, as IncompleteSignatureException, a header without a Credential
// of five parts, SignedHeaders or Signature, and one that lists more than
// MaxSignedHeaders signed headers. It checks nothing against credentials.
func ParseAuthorization(h string) (Authorization, *qldberr.Error) {
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(h, algo) {
		return Authorization{}, authError(ErrIncompleteSignature, "Authorization header must use the AWS4-HMAC-SHA256 algorithm")
	}
	var a Authorization
	var credential, signed string
	for _, part := range strings.Split(h[len(algo):], ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, authError(ErrIncompleteSignature, "Authorization header component %q is not key=value", strings.TrimSpace(part))
		}
		switch k {
		case "Credential":
			credential = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			a.Signature = v
		}
	}
	switch {
	case credential == "":
		return a, authError(ErrIncompleteSignature, "Authorization header requires 'Credential' parameter")
	case signed == "":
		return a, authError(ErrIncompleteSignature, "Authorization header requires 'SignedHeaders' parameter")
	case a.Signature == "":
		return a, authError(ErrIncompleteSignature, "Authorization header requires 'Signature' parameter")
	}
	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" || scope[0] == "" {
		return a, authError(ErrIncompleteSignature, "Credential %q must have the form <key>/<date>/<region>/<service>/aws4_request", credential)
	}
	a.AccessKey, a.Date, a.Region, a.Service = scope[0], scope[1], scope[2], scope[3]
	if n := strings.Count(signed, ";") + 1; n > MaxSignedHeaders {
		return a, authError(ErrIncompleteSignature, "SignedHeaders lists %d headers; at most %d may be signed", n, MaxSignedHeaders)
	}
	a.SignedHeaders = strings.Split(strings.ToLower(signed), ";")
	return a, nil
}

// Identity is what CheckHeaders learned from a request's headers: the
// parsed Authorization header (whose access key names the caller), the
// signing time and the secret of its access key. It proves nothing until
// CheckBody accepts the request.
type Identity struct {
	Auth   Authorization
	Open   bool // no credentials configured: the signature is not checked
	at     time.Time
	secret string
}

// CheckHeaders verifies everything of a request's signature that does not
// need its body: the Authorization header's syntax, the signing date, the
// access key, the clock skew and the credential scope. It runs before the
// body is read, so that (with credentials configured) a client without a
// known key and a current date cannot make the server read or hold its body.
func (v *Verifier) CheckHeaders(r *http.Request) (Identity, *qldberr.Error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Identity{}, authError(ErrMissingToken, "Missing Authentication Token")
	}
	a, perr := ParseAuthorization(h)
	if perr != nil {
		return Identity{}, perr
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return Identity{}, authError(ErrIncompleteSignature, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header")
	}
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return Identity{}, authError(ErrIncompleteSignature, "X-Amz-Date %q is not in the form 20060102T150405Z", amzDate)
	}
	if len(v.creds) == 0 {
		return Identity{Auth: a, at: t, Open: true}, nil // no credentials configured: any well-formed signature (loopback only)
	}
	secret, ok := v.creds[a.AccessKey]
	if !ok {
		return Identity{}, authError(ErrUnrecognizedClient, "The security token included in the request is invalid.")
	}
	now := v.now().UTC()
	if t.Before(now.Add(-v.skew)) {
		return Identity{}, authError(ErrInvalidSignature, "Signature expired: %s is now earlier than %s (%s - %s.)",
			amzDate, now.Add(-v.skew).Format(amzDateFormat), now.Format(amzDateFormat), v.skew)
	}
	if t.After(now.Add(v.skew)) {
		return Identity{}, authError(ErrInvalidSignature, "Signature not yet current: %s is still later than %s (%s + %s.)",
			amzDate, now.Add(v.skew).Format(amzDateFormat), now.Format(amzDateFormat), v.skew)
	}
	if a.Date != t.Format("20060102") {
		return Identity{}, authError(ErrInvalidSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s'", a.Date, t.Format("20060102"))
	}
	if a.Region != v.region {
		return Identity{}, authError(ErrInvalidSignature, "Credential should be scoped to a valid region, not '%s'. ", a.Region)
	}
	if a.Service != signingName {
		return Identity{}, authError(ErrInvalidSignature, "Credential should be scoped to correct service: '%s'. ", signingName)
	}
	return Identity{Auth: a, at: t, secret: secret}, nil
}

// CheckBody completes the verification that CheckHeaders began, once the
// whole body has been read. The payload hash is always the SHA-256 of the
// body received, as AWS computes it for its JSON APIs: a declared
// X-Amz-Content-Sha256 must equal it (UNSIGNED-PAYLOAD, which only S3
// accepts, never does), so a signed request cannot carry another body.
// The declared hash is compared even when no credentials are configured.
func (v *Verifier) CheckBody(r *http.Request, ah Identity, body []byte) *qldberr.Error {
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if declared, ok := r.Header[http.CanonicalHeaderKey("X-Amz-Content-Sha256")]; ok {
		if len(declared) != 1 || subtle.ConstantTimeCompare([]byte(strings.ToLower(strings.TrimSpace(declared[0]))), []byte(payloadHash)) != 1 {
			return authError(ErrInvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
	}
	if ah.Open {
		return nil
	}
	want, ok := v.fastSignature(r, len(body), payloadHash, ah.Auth, ah.secret, ah.at)
	var err error
	if !ok {
		want, err = v.expectedSignature(r, len(body), payloadHash, ah.Auth, ah.secret, ah.at)
	}
	if err != nil || subtle.ConstantTimeCompare([]byte(want), []byte(ah.Auth.Signature)) != 1 {
		return authError(ErrInvalidSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return nil
}

// expectedSignature signs a copy of r holding only the headers the client
// signed, with the client's signing time and the payload hash the server
// computed from the body, and returns the signature.
func (v *Verifier) expectedSignature(r *http.Request, bodyLen int, payloadHash string, a Authorization, secret string, t time.Time) (string, error) {
	u := *r.URL
	u.Host = r.Host
	u.Scheme = "http"
	if r.TLS != nil {
		u.Scheme = "https"
	}
	req := &http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: http.Header{}}
	for _, name := range a.SignedHeaders {
		switch name {
		case "host":
		case "content-length":
			req.ContentLength = int64(bodyLen)
		default:
			req.Header[http.CanonicalHeaderKey(name)] = r.Header.Values(name)
		}
	}
	creds := aws.Credentials{AccessKeyID: a.AccessKey, SecretAccessKey: secret, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v.signer.SignHTTP(context.Background(), creds, req, payloadHash, signingName, a.Region, t); err != nil {
		return "", fmt.Errorf("sigv4: sign: %w", err)
	}
	// The SDK may add host, x-amz-date and the like to the names the client
	// listed, so only the signature is taken from its header.
	_, sig, ok := strings.Cut(req.Header.Get("Authorization"), "Signature=")
	if !ok || sig == "" {
		return "", fmt.Errorf("sigv4: the SDK's signer wrote no signature")
	}
	return sig, nil
}
