package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The session API's signature check without the SDK signer: for a request
// of the common shape (POST /, no query, signed headers that are each
// present once with a plain value, no session token) the canonical request
// is written straight from the request, and the signing key of each
// (secret, date, region) is derived once and kept. Any other request goes
// through expectedSignature, the SDK's own signer, so the accepted and
// refused requests are the same either way (TestFastSignatureMatchesSDK).

// ignoredSigningHeaders are the headers the SDK signer leaves out of a
// signature even when named, and the one it adds itself.
var ignoredSigningHeaders = map[string]bool{
	"authorization": true, "user-agent": true, "x-amzn-trace-id": true, "expect": true,
	"transfer-encoding": true, "x-amz-security-token": true,
}

// signingKeys caches derived SigV4 keys by secret, date and region. A day's
// keys are all the cache ever holds for a given client: entries of older
// dates are dropped when a new date is first seen.
type signingKeys struct {
	mu   sync.Mutex
	date string
	keys map[[3]string][]byte
}

func (c *signingKeys) get(secret, date, region string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.date != date && date > c.date {
		c.date, c.keys = date, nil
	}
	k := [3]string{secret, date, region}
	if key, ok := c.keys[k]; ok {
		return key
	}
	key := hmacSum([]byte("AWS4"+secret), date)
	key = hmacSum(key, region)
	key = hmacSum(key, signingName)
	key = hmacSum(key, "aws4_request")
	if date == c.date {
		if c.keys == nil {
			c.keys = map[[3]string][]byte{}
		}
		if len(c.keys) < 1024 {
			c.keys[k] = key
		}
	}
	return key
}

func hmacSum(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// plainHeaderValue reports whether the SDK signer would sign v unchanged:
// printable ASCII without leading, trailing or doubled spaces.
func plainHeaderValue(v string) bool {
	if v == "" || v[0] == ' ' || v[len(v)-1] == ' ' || strings.Contains(v, "  ") {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] >= 0x7f {
			return false
		}
	}
	return true
}

// fastSignature computes the signature the SDK signer would compute for r
// (see expectedSignature), or reports ok=false when r is not of the shape
// this function handles.
func (v *Verifier) fastSignature(r *http.Request, bodyLen int, payloadHash string, a Authorization, secret string, t time.Time) (sig string, ok bool) {
	if r.URL.Path != "/" || r.URL.RawPath != "" || r.URL.RawQuery != "" || r.URL.Opaque != "" || bodyLen <= 0 {
		return "", false
	}
	if _, has := r.Header["X-Amz-Security-Token"]; has {
		return "", false
	}
	host := r.Host
	if !plainHeaderValue(host) || strings.Contains(host, " ") || strings.HasSuffix(host, ":80") || strings.HasSuffix(host, ":443") {
		return "", false
	}
	// The SDK signs host, x-amz-date, content-length when named (the body
	// is not empty here) and the other named headers, sorted; the client
	// must have named exactly those, in that order.
	var hasHost, hasDate bool
	buf := make([]byte, 0, 512)
	buf = append(buf, r.Method...)
	buf = append(buf, "\n/\n\n"...)
	amzDate := t.UTC().Format(amzDateFormat)
	for i, name := range a.SignedHeaders {
		if i > 0 && a.SignedHeaders[i-1] >= name {
			return "", false
		}
		if ignoredSigningHeaders[name] {
			return "", false
		}
		var value string
		switch name {
		case "host":
			hasHost, value = true, host
		case "content-length":
			value = strconv.Itoa(bodyLen)
		case "x-amz-date":
			hasDate, value = true, amzDate
		default:
			vals := r.Header[http.CanonicalHeaderKey(name)]
			if len(vals) != 1 || !plainHeaderValue(vals[0]) {
				return "", false
			}
			value = vals[0]
		}
		buf = append(buf, name...)
		buf = append(buf, ':')
		buf = append(buf, value...)
		buf = append(buf, '\n')
	}
	if !hasHost || !hasDate {
		return "", false
	}
	buf = append(buf, '\n')
	for i, name := range a.SignedHeaders {
		if i > 0 {
			buf = append(buf, ';')
		}
		buf = append(buf, name...)
	}
	buf = append(buf, '\n')
	buf = append(buf, payloadHash...)
	canonical := sha256.Sum256(buf)

	date := amzDate[:8]
	// The string to sign is built behind room for HMAC's inner pad.
	inner := make([]byte, sha256.BlockSize, sha256.BlockSize+160)
	sts := inner[sha256.BlockSize:]
	sts = append(sts, "AWS4-HMAC-SHA256\n"...)
	sts = append(sts, amzDate...)
	sts = append(sts, '\n')
	sts = append(sts, date...)
	sts = append(sts, '/')
	sts = append(sts, a.Region...)
	sts = append(sts, "/"+signingName+"/aws4_request\n"...)
	sts = hex.AppendEncode(sts, canonical[:])
	mac := hmacSHA256(v.keys.get(secret, date, a.Region), inner[:sha256.BlockSize+len(sts)])
	return hex.EncodeToString(mac[:]), true
}

// hmacSHA256 returns HMAC-SHA256(key, msg) (RFC 2104) for a key of at most
// one block (a derived SigV4 key is 32 bytes), where padded is
// sha256.BlockSize free bytes followed by msg: the inner pad is written
// there, so nothing is allocated. Longer keys go through crypto/hmac.
func hmacSHA256(key, padded []byte) [sha256.Size]byte {
	if len(key) > sha256.BlockSize {
		m := hmac.New(sha256.New, key)
		m.Write(padded[sha256.BlockSize:])
		return [sha256.Size]byte(m.Sum(nil))
	}
	var outer [sha256.BlockSize + sha256.Size]byte
	for i := 0; i < sha256.BlockSize; i++ {
		var k byte
		if i < len(key) {
			k = key[i]
		}
		padded[i] = k ^ 0x36
		outer[i] = k ^ 0x5c
	}
	in := sha256.Sum256(padded)
	copy(outer[sha256.BlockSize:], in[:])
	return sha256.Sum256(outer[:])
}
