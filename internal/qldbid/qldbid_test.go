package qldbid

import (
	"math/big"
	"math/rand/v2"
	"testing"
)

// encodeBig is Encode written with math/big (the implementation before the
// 64-bit one): the reference the fast path must match.
func encodeBig(b [16]byte) string {
	n := new(big.Int).SetBytes(b[:])
	out := make([]byte, Length)
	base, mod := big.NewInt(62), new(big.Int)
	for i := Length - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		out[i] = alphabet[mod.Int64()]
	}
	return string(out)
}

// TestEncodeMatchesBigInt checks Encode against big.Int base-62 conversion
// over the extremes and 20,000 random values, and that New's ids are Valid.
func TestEncodeMatchesBigInt(t *testing.T) {
	cases := [][16]byte{{}, {15: 1}, {15: 61}, {15: 62}, {7: 1}, {0: 0x80}}
	var all [16]byte
	for i := range all {
		all[i] = 0xff
	}
	cases = append(cases, all)
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 20000; n++ {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		if rng.IntN(4) == 0 { // small high half
			for i := 0; i < 8+rng.IntN(8); i++ {
				b[i] = 0
			}
		}
		cases = append(cases, b)
	}
	for _, b := range cases {
		if got, want := Encode(b), encodeBig(b); got != want {
			t.Fatalf("Encode(%x) = %s, want %s", b, got, want)
		}
	}
	if id := New(); !Valid(id) {
		t.Fatalf("New() = %q, not Valid", id)
	}
}

// BenchmarkNew measures one fresh id.
func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		New()
	}
}
