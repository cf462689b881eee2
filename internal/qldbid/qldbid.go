// Package qldbid makes QLDB-style identifiers: 128 random bits written as 22
// Base62 characters, the shape QLDB used for document, table, index, strand,
// transaction and stream ids.
package qldbid

import (
	"crypto/rand"
	"math/big"
	"regexp"
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Length is the length of every id.
const Length = 22

var pattern = regexp.MustCompile(`^[A-Za-z0-9]{22}$`)

// New returns a fresh id from the operating system's random source.
func New() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("qldbid: random source failed: " + err.Error()) // crypto/rand never fails on Linux
	}
	return Encode(b)
}

// Encode writes 128 bits as a fixed-width, zero-padded Base62 string.
func Encode(b [16]byte) string {
	n := new(big.Int).SetBytes(b[:])
	out := make([]byte, Length)
	base := big.NewInt(62)
	mod := new(big.Int)
	for i := Length - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		out[i] = alphabet[mod.Int64()]
	}
	return string(out)
}

// Valid reports whether s has the shape of an id (22 ASCII letters or digits).
func Valid(s string) bool { return pattern.MatchString(s) }
