// Package qldbid makes QLDB-style identifiers: 128 random bits written as 22
// Base62 characters, the shape QLDB used for document, table, index, strand,
// transaction and stream ids.
package qldbid

import (
	"crypto/rand"
	"encoding/binary"
	"math/bits"
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

// Encode writes 128 bits as a fixed-width, zero-padded Base62 string: the
// number b (big-endian) in base 62, most significant digit first. 62^22
// exceeds 2^128, so every value fits. The division works on two 64-bit
// halves (no big.Int, one allocation: the string).
func Encode(b [16]byte) string {
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	var out [Length]byte
	for i := Length - 1; i >= 0; i-- {
		var r uint64
		hi, r = bits.Div64(0, hi, 62)
		lo, r = bits.Div64(r, lo, 62)
		out[i] = alphabet[r]
	}
	return string(out[:])
}

// Valid reports whether s has the shape of an id (22 ASCII letters or digits).
func Valid(s string) bool { return pattern.MatchString(s) }
