package ionvalue

import (
	"bytes"
	"encoding/hex"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/amzn/ion-go/ion"
)

// ionGoBody returns the representation (the bytes after the type
// descriptor and length) of the one value write writes with ion-go's binary
// writer.
func ionGoBody(t *testing.T, write func(ion.Writer) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := ion.NewBinaryWriter(&buf)
	if err := write(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	enc := buf.Bytes()[4:]
	switch {
	case enc[0]&0x0F == 0x0E:
		_, n, ok := ReadVarUint(enc[1:])
		if !ok {
			t.Fatalf("bad length in %x", enc)
		}
		return enc[1+n:]
	default:
		return enc[1:]
	}
}

func TestVarIntEncodings(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "80"}, {-3, "c3"}, {63, "bf"}, {64, "00c0"}, {-64, "40c0"}, {-480, "43e0"}, {8191, "3fff"}, {8192, "004080"}} {
		if got := hex.EncodeToString(AppendVarInt(nil, c.n)); got != c.want {
			t.Errorf("VarInt %d: %s, want %s", c.n, got, c.want)
		}
	}
	// Decimal exponents as ion-go writes them: NewDecimal(1, exp).
	for _, e := range []int64{0, 1, -1, 63, 64, -63, -64, 8191, 8192, -8192, 1<<20 - 1, math.MaxInt32, math.MinInt32} {
		want := ionGoBody(t, func(w ion.Writer) error { return w.WriteDecimal(ion.NewDecimal(big.NewInt(1), int32(e), false)) })
		want = want[:len(want)-1] // the coefficient 1
		if got := AppendVarInt(nil, e); !bytes.Equal(got, want) {
			t.Errorf("AppendVarInt(%d) = %x, ion-go %x", e, got, want)
		}
	}
	for _, e := range []int64{0, 1, -1, 63, 64, -64, 8192, -8192, math.MaxInt32, math.MinInt32, 1 << 55, -(1 << 55)} {
		b := AppendVarInt([]byte{0xAA}, e)
		v, negZero, n, ok := ReadVarInt(b[1:])
		if !ok || v != e || negZero || n != len(b)-1 {
			t.Errorf("VarInt %d round trip: %d %v %d %v", e, v, negZero, n, ok)
		}
	}
	if v, negZero, n, ok := ReadVarInt([]byte{0xC0}); !ok || v != 0 || !negZero || n != 1 {
		t.Errorf("VarInt -0: %d %v %d %v", v, negZero, n, ok)
	}
	for _, bad := range [][]byte{nil, {0x40}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80}} {
		if _, _, _, ok := ReadVarInt(bad); ok {
			t.Errorf("ReadVarInt(%x) accepted", bad)
		}
	}
}

func TestVarUintEncodings(t *testing.T) {
	for _, c := range []struct {
		n    uint64
		want string
	}{{0, "80"}, {127, "ff"}, {128, "0180"}, {16383, "7fff"}, {16384, "010080"}, {math.MaxUint64, "01" + strings.Repeat("7f", 8) + "ff"}} {
		got := AppendVarUint([]byte{0xAA}, c.n)
		if hex.EncodeToString(got[1:]) != c.want {
			t.Errorf("VarUInt %d: %x, want %s", c.n, got[1:], c.want)
		}
		v, n, ok := ReadVarUint(got[1:])
		if !ok || v != c.n || n != len(got)-1 {
			t.Errorf("VarUInt %d round trip: %d %d %v", c.n, v, n, ok)
		}
	}
	for _, bad := range [][]byte{nil, {0x7F}, bytes.Repeat([]byte{0}, 10)} {
		if _, _, ok := ReadVarUint(bad); ok {
			t.Errorf("ReadVarUint(%x) accepted", bad)
		}
	}
}

func TestIntEncodings(t *testing.T) {
	for _, c := range []struct {
		mag  uint64
		neg  bool
		want string
	}{{0, false, ""}, {0, true, "80"}, {1, false, "01"}, {1, true, "81"}, {0x7F, true, "ff"}, {0x80, false, "0080"},
		{0x80, true, "8080"}, {0x1234, false, "1234"}, {math.MaxUint64, true, "80ffffffffffffffff"}} {
		if got := hex.EncodeToString(AppendInt(nil, c.mag, c.neg)); got != c.want {
			t.Errorf("Int %d neg %v: %s, want %s", c.mag, c.neg, got, c.want)
		}
		n := new(big.Int).SetUint64(c.mag)
		if c.neg {
			n.Neg(n)
		}
		if c.mag == 0 {
			continue // a big.Int has no negative zero
		}
		if got := hex.EncodeToString(AppendBigInt(nil, n)); got != c.want {
			t.Errorf("BigInt %s: %s, want %s", n, got, c.want)
		}
	}
	if got := AppendBigInt([]byte{1}, new(big.Int)); !bytes.Equal(got, []byte{1}) {
		t.Errorf("BigInt 0: %x", got)
	}
	for _, c := range []struct {
		v    uint64
		want string
	}{{0, ""}, {1, "01"}, {0xFF, "ff"}, {0x100, "0100"}, {math.MaxUint64, "ffffffffffffffff"}} {
		got := AppendUint(nil, c.v)
		if hex.EncodeToString(got) != c.want {
			t.Errorf("UInt %d: %x, want %s", c.v, got, c.want)
		}
		if back, ok := ReadUint(got); !ok || back != c.v {
			t.Errorf("UInt %d round trip: %d %v", c.v, back, ok)
		}
		if big := hex.EncodeToString(AppendBigUint(nil, new(big.Int).SetUint64(c.v))); big != c.want {
			t.Errorf("BigUInt %d: %s, want %s", c.v, big, c.want)
		}
	}
	if _, ok := ReadUint(make([]byte, 9)); ok {
		t.Error("ReadUint accepted 9 bytes")
	}
}

// TestDecimalEncodings checks AppendDecimal against ion-go's writer,
// negative zero included.
func TestDecimalEncodings(t *testing.T) {
	decs := []*ion.Decimal{
		ion.NewDecimal(big.NewInt(5), 0, true), // ion-go: the flag wins
		ion.NewDecimal(big.NewInt(0), 0, true),
		ion.NewDecimal(big.NewInt(-0x80), 12, false),
	}
	for _, s := range []string{"0.", "-0.", "0.0", "-0.0", "-0.00", "0d5", "-0d5", "1.", "-1.", "90.25", "-127.", "128.",
		"1d2147483647", "-7d-2147483648", "123456789012345678901234567890.5", "-99999999999999999999999d-40"} {
		decs = append(decs, ion.MustParseDecimal(s))
	}
	for _, d := range decs {
		want := ionGoBody(t, func(w ion.Writer) error { return w.WriteDecimal(d) })
		if got := AppendDecimal(nil, d); !bytes.Equal(got, want) {
			t.Errorf("AppendDecimal(%s) = %x, ion-go %x", d, got, want)
		}
	}
	if !IsNegativeZero(ion.MustParseDecimal("-0.00")) || IsNegativeZero(ion.MustParseDecimal("0.00")) || IsNegativeZero(nil) {
		t.Error("IsNegativeZero wrong")
	}
}

// TestTimestampEncodings checks AppendTimestamp against ion-go's writer.
func TestTimestampEncodings(t *testing.T) {
	for _, s := range []string{
		"2007T", "2007-02T", "2007-02-23", "2007-02-23T12:14Z", "2007-02-23T12:14-00:00", "2007-02-23T12:14+05:30",
		"2007-02-23T00:14+01:00", "2007-02-23T12:14:33-08:00", "2019-09-16T19:37:05.344Z",
		"2007-02-23T12:14:33.000Z", "2007-02-23T12:14:33.000000001Z", "2007-02-23T12:14:33.999999999-00:00",
		"0001-01-01T00:00:00.000000000Z", "9999-12-31T23:59:59.999999999-23:59",
	} {
		v, err := DecodeOne([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		want := ionGoBody(t, func(w ion.Writer) error { return w.WriteTimestamp(v.Time) })
		if got := AppendTimestamp(nil, v.Time); !bytes.Equal(got, want) {
			t.Errorf("AppendTimestamp(%s) = %x, ion-go %x", s, got, want)
		}
	}
}

func TestTypeDescAndFloat(t *testing.T) {
	for _, c := range []struct {
		n    uint64
		want string
	}{{0, "80"}, {13, "8d"}, {14, "8e8e"}, {200, "8e01c8"}} {
		if got := hex.EncodeToString(AppendTypeDesc(nil, TypeCodeString, c.n)); got != c.want {
			t.Errorf("type descriptor %d: %s, want %s", c.n, got, c.want)
		}
	}
	if got := hex.EncodeToString(AppendFloat64(nil, math.Copysign(0, -1))); got != "8000000000000000" {
		t.Errorf("-0e0: %s", got)
	}
	if id, ok := SystemSymbolID("symbols"); !ok || id != SIDSymbols {
		t.Errorf("symbols: %d %v", id, ok)
	}
	if _, ok := SystemSymbolID("a"); ok {
		t.Error("a is a system symbol")
	}
}
