package api

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

// Authentication error types, as AWS names them.
const (
	errMissingToken       = "MissingAuthenticationTokenException"
	errIncompleteSig      = "IncompleteSignatureException"
	errUnrecognizedClient = "UnrecognizedClientException"
	errInvalidSignature   = "InvalidSignatureException"
)

// signatureChecker checks AWS Signature Version 4 on incoming requests by recomputing
// the signature with the AWS SDK's own signer and comparing in constant time.
type signatureChecker struct {
	creds  map[string]string // access key id -> secret; empty: accept any well-formed signature
	region string
	skew   time.Duration
	now    func() time.Time
	signer *v4.Signer
	keys   signingKeys // derived signing keys of fastSignature
}

// sigV4Auth is a parsed Authorization header.
type sigV4Auth struct {
	accessKey     string
	date          string // yyyymmdd of the scope
	region        string
	service       string
	signedHeaders []string
	signature     string
}

func authError(typ, format string, args ...any) *qldberr.Error {
	return qldberr.New(typ, format, args...)
}

func parseAuthorization(h string) (sigV4Auth, *qldberr.Error) {
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(h, algo) {
		return sigV4Auth{}, authError(errIncompleteSig, "Authorization header must use the AWS4-HMAC-SHA256 algorithm")
	}
	var a sigV4Auth
	var credential, signed string
	for _, part := range strings.Split(h[len(algo):], ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, authError(errIncompleteSig, "Authorization header component %q is not key=value", strings.TrimSpace(part))
		}
		switch k {
		case "Credential":
			credential = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			a.signature = v
		}
	}
	switch {
	case credential == "":
		return a, authError(errIncompleteSig, "Authorization header requires 'Credential' parameter")
	case signed == "":
		return a, authError(errIncompleteSig, "Authorization header requires 'SignedHeaders' parameter")
	case a.signature == "":
		return a, authError(errIncompleteSig, "Authorization header requires 'Signature' parameter")
	}
	scope := strings.Split(credential, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" || scope[0] == "" {
		return a, authError(errIncompleteSig, "Credential %q must have the form <key>/<date>/<region>/<service>/aws4_request", credential)
	}
	a.accessKey, a.date, a.region, a.service = scope[0], scope[1], scope[2], scope[3]
	a.signedHeaders = strings.Split(strings.ToLower(signed), ";")
	return a, nil
}

// authHeader is what checkHeaders learned from a request's headers: the
// parsed Authorization header, the signing time and the secret of its
// access key ("" when no credentials are configured).
type authHeader struct {
	sig    sigV4Auth
	at     time.Time
	secret string
	open   bool // no credentials configured: the signature is not checked
}

// checkHeaders verifies everything of a request's signature that does not
// need its body: the Authorization header's syntax, the signing date, the
// access key, the clock skew and the credential scope. It runs before the
// body is read, so that (with credentials configured) a client without a
// known key and a current date cannot make the server read or hold its body.
func (v *signatureChecker) checkHeaders(r *http.Request) (authHeader, *qldberr.Error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return authHeader{}, authError(errMissingToken, "Missing Authentication Token")
	}
	a, perr := parseAuthorization(h)
	if perr != nil {
		return authHeader{}, perr
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return authHeader{}, authError(errIncompleteSig, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header")
	}
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return authHeader{}, authError(errIncompleteSig, "X-Amz-Date %q is not in the form 20060102T150405Z", amzDate)
	}
	if len(v.creds) == 0 {
		return authHeader{sig: a, at: t, open: true}, nil // no credentials configured: any well-formed signature (loopback only)
	}
	secret, ok := v.creds[a.accessKey]
	if !ok {
		return authHeader{}, authError(errUnrecognizedClient, "The security token included in the request is invalid.")
	}
	now := v.now().UTC()
	if t.Before(now.Add(-v.skew)) {
		return authHeader{}, authError(errInvalidSignature, "Signature expired: %s is now earlier than %s (%s - %s.)",
			amzDate, now.Add(-v.skew).Format(amzDateFormat), now.Format(amzDateFormat), v.skew)
	}
	if t.After(now.Add(v.skew)) {
		return authHeader{}, authError(errInvalidSignature, "Signature not yet current: %s is still later than %s (%s + %s.)",
			amzDate, now.Add(v.skew).Format(amzDateFormat), now.Format(amzDateFormat), v.skew)
	}
	if a.date != t.Format("20060102") {
		return authHeader{}, authError(errInvalidSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s'", a.date, t.Format("20060102"))
	}
	if a.region != v.region {
		return authHeader{}, authError(errInvalidSignature, "Credential should be scoped to a valid region, not '%s'. ", a.region)
	}
	if a.service != signingName {
		return authHeader{}, authError(errInvalidSignature, "Credential should be scoped to correct service: '%s'. ", signingName)
	}
	return authHeader{sig: a, at: t, secret: secret}, nil
}

// checkBody completes the verification that checkHeaders began, once the
// whole body has been read. The payload hash is always the SHA-256 of the
// body received, as AWS computes it for its JSON APIs: a declared
// X-Amz-Content-Sha256 must equal it (UNSIGNED-PAYLOAD, which only S3
// accepts, never does), so a signed request cannot carry another body.
// The declared hash is compared even when no credentials are configured.
func (v *signatureChecker) checkBody(r *http.Request, ah authHeader, body []byte) *qldberr.Error {
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if declared, ok := r.Header[http.CanonicalHeaderKey("X-Amz-Content-Sha256")]; ok {
		if len(declared) != 1 || subtle.ConstantTimeCompare([]byte(strings.ToLower(strings.TrimSpace(declared[0]))), []byte(payloadHash)) != 1 {
			return authError(errInvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
	}
	if ah.open {
		return nil
	}
	want, ok := v.fastSignature(r, len(body), payloadHash, ah.sig, ah.secret, ah.at)
	var err error
	if !ok {
		want, err = v.expectedSignature(r, len(body), payloadHash, ah.sig, ah.secret, ah.at)
	}
	if err != nil || subtle.ConstantTimeCompare([]byte(want), []byte(ah.sig.signature)) != 1 {
		return authError(errInvalidSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return nil
}

// expectedSignature signs a copy of r holding only the headers the client
// signed, with the client's signing time and the payload hash the server
// computed from the body, and returns the signature.
func (v *signatureChecker) expectedSignature(r *http.Request, bodyLen int, payloadHash string, a sigV4Auth, secret string, t time.Time) (string, error) {
	u := *r.URL
	u.Host = r.Host
	u.Scheme = "http"
	if r.TLS != nil {
		u.Scheme = "https"
	}
	req := &http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: http.Header{}}
	for _, name := range a.signedHeaders {
		switch name {
		case "host":
		case "content-length":
			req.ContentLength = int64(bodyLen)
		default:
			req.Header[http.CanonicalHeaderKey(name)] = r.Header.Values(name)
		}
	}
	creds := aws.Credentials{AccessKeyID: a.accessKey, SecretAccessKey: secret, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v.signer.SignHTTP(context.Background(), creds, req, payloadHash, signingName, a.region, t); err != nil {
		return "", fmt.Errorf("api: sign: %w", err)
	}
	got, err := parseAuthorization(req.Header.Get("Authorization"))
	if err != nil {
		return "", fmt.Errorf("api: %s", err.Message)
	}
	return got.signature, nil
}
