package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// TestHMACSHA256MatchesCryptoHMAC compares the allocation-free HMAC of
// fastSignature with crypto/hmac over keys of 0 to 100 bytes (both sides of
// the one-block limit) and messages of 0 to 300 bytes.
func TestHMACSHA256MatchesCryptoHMAC(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	fill := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	for n := 0; n < 2000; n++ {
		key, msg := fill(rng.IntN(101)), fill(rng.IntN(301))
		m := hmac.New(sha256.New, key)
		m.Write(msg)
		want := m.Sum(nil)
		padded := append(make([]byte, sha256.BlockSize), msg...)
		if got := hmacSHA256(key, padded); string(got[:]) != string(want) {
			t.Fatalf("key %x msg %x: got %x, want %x", key, msg, got, want)
		}
	}
}
