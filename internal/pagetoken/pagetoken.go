// Package pagetoken makes the opaque NextToken strings of paginated list
// operations. A token carries the key to resume after and a checksum, so a
// token that was altered or made up is rejected instead of silently
// resuming somewhere else.
package pagetoken

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// ErrInvalid is returned by Decode for a token it did not make.
var ErrInvalid = errors.New("pagetoken: invalid token")

// Encode returns a token for resuming the listing named scope after key.
// The token matches QLDB's NextToken pattern ^[A-Za-z-0-9+/=]+$.
func Encode(scope, key string) string {
	body := scope + "\x00" + key
	sum := sha256.Sum256([]byte(body))
	return base64.StdEncoding.EncodeToString(append([]byte(body), sum[:8]...))
}

// Decode returns the key of a token made by Encode for the same scope.
// Only Encode's exact spelling is accepted, so a key has one token: base64
// whose unused trailing bits are not zero, or with line breaks (which Go's
// decoder skips), spells the same bytes otherwise and is invalid.
func Decode(scope, token string) (string, error) {
	raw, err := base64.StdEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) < 9 || base64.StdEncoding.EncodeToString(raw) != token {
		return "", ErrInvalid
	}
	body, sum := raw[:len(raw)-8], raw[len(raw)-8:]
	want := sha256.Sum256(body)
	if string(want[:8]) != string(sum) {
		return "", ErrInvalid
	}
	s, key, ok := strings.Cut(string(body), "\x00")
	if !ok || s != scope {
		return "", ErrInvalid
	}
	return key, nil
}
