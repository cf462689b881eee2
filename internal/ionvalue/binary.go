package ionvalue

import (
	"encoding/binary"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"

	"github.com/amzn/ion-go/ion"
)

// This file holds the primitives of the Ion 1.0 binary encoding that every
// Ion encoder and decoder in Strand shares: the Ion hash (qldbhash), the
// stream record writer (stream/record), the binary decoder (binary_read.go)
// and the length guard (guard.go). Each primitive appends to or reads from
// a byte slice and allocates nothing of its own.
//
// Negative zero has one rule, ion-go's (which is also what QLDB produces):
//
//   - decimal: a decimal is negative zero exactly when IsNegativeZero says
//     so (ion-go's flag); it is written with the one-byte coefficient 0x80,
//     whatever coefficient the ion.Decimal holds. A present coefficient of
//     zero reads back as negative zero (ion-go's reader does the same);
//   - int: Ion ints have no negative zero in Strand's model; zero is always
//     written as a positive int (0x20), and a negative-int encoding of zero
//     is left to ion-go's reader, which refuses it;
//   - float: -0e0 keeps its sign bit (it is a distinct IEEE 754 value):
//     MarshalBinary writes it in 4 bytes (0x44 80000000) and only a
//     positive zero in none (0x40), the hash serializer and the stream
//     records in 8;
//   - VarInt: -0 appears only as a timestamp's unknown offset (-00:00, the
//     byte 0xC0).

// BinaryVersionMarker is the Ion 1.0 binary version marker that starts
// every binary Ion stream.
var BinaryVersionMarker = [4]byte{0xE0, 0x01, 0x00, 0xEA}

// HasVersionMarker reports whether b starts with the Ion 1.0 binary version
// marker.
func HasVersionMarker(b []byte) bool {
	return len(b) >= 4 && b[0] == 0xE0 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0xEA
}

// Ion binary type codes: the high nibble of a type descriptor.
const (
	TypeCodeNull      byte = 0x00
	TypeCodeBool      byte = 0x10
	TypeCodePosInt    byte = 0x20
	TypeCodeNegInt    byte = 0x30
	TypeCodeFloat     byte = 0x40
	TypeCodeDecimal   byte = 0x50
	TypeCodeTimestamp byte = 0x60
	TypeCodeSymbol    byte = 0x70
	TypeCodeString    byte = 0x80
	TypeCodeClob      byte = 0x90
	TypeCodeBlob      byte = 0xA0
	TypeCodeList      byte = 0xB0
	TypeCodeSexp      byte = 0xC0
	TypeCodeStruct    byte = 0xD0
	TypeCodeAnnot     byte = 0xE0
)

// System symbol ids of Ion 1.0 that Strand's encoders and decoders use.
const (
	SIDSymbolTable = 3  // $ion_symbol_table
	SIDSymbols     = 7  // symbols
	FirstLocalSID  = 10 // the first id of a local symbol table
)

// systemSymbols is the Ion 1.0 system symbol table, indexed by symbol id.
var systemSymbols = []string{"", "$ion", "$ion_1_0", "$ion_symbol_table", "name", "version", "imports", "symbols", "max_id", "$ion_shared_symbol_table"}

// SystemSymbolID returns the Ion 1.0 system symbol id of text, or false
// when text is not a system symbol.
func SystemSymbolID(text string) (uint64, bool) {
	for i := 1; i < len(systemSymbols); i++ {
		if systemSymbols[i] == text {
			return uint64(i), true
		}
	}
	return 0, false
}

// AppendTypeDesc appends a type descriptor for a representation of n bytes:
// the length in the low nibble when n < 14, otherwise the nibble 14 and the
// length as a VarUInt (the shortest encoding, as ion-go and ion-java write).
func AppendTypeDesc(b []byte, code byte, n uint64) []byte {
	if n < 14 {
		return append(b, code|byte(n))
	}
	return AppendVarUint(append(b, code|0x0E), n)
}

// AppendVarUint appends v as an Ion VarUInt: 7 bits a byte, most
// significant first, the last byte flagged with 0x80.
func AppendVarUint(b []byte, v uint64) []byte {
	var tmp [10]byte
	i := len(tmp) - 1
	tmp[i] = 0x80 | byte(v&0x7F)
	for v >>= 7; v > 0; v >>= 7 {
		i--
		tmp[i] = byte(v & 0x7F)
	}
	return append(b, tmp[i:]...)
}

// AppendVarInt appends v as an Ion VarInt: a VarUInt of the magnitude whose
// first byte gives up its second-highest bit (0x40) to the sign. It never
// writes -0 (see the negative zero rule above).
func AppendVarInt(b []byte, v int64) []byte {
	mag := uint64(v)
	if v < 0 {
		mag = -mag // -MinInt64 wraps to 1<<63, the right magnitude
	}
	var tmp [11]byte
	i := len(tmp) - 1
	tmp[i] = 0x80 | byte(mag&0x7F)
	for mag >>= 7; mag > 0; mag >>= 7 {
		i--
		tmp[i] = byte(mag & 0x7F)
	}
	if tmp[i]&0x40 != 0 { // no room for the sign bit
		i--
		tmp[i] = 0
	}
	if v < 0 {
		tmp[i] |= 0x40
	}
	return append(b, tmp[i:]...)
}

// AppendUint appends v as an Ion UInt: big-endian in as few bytes as
// possible, nothing at all for 0.
func AppendUint(b []byte, v uint64) []byte {
	n := 0
	for x := v; x > 0; x >>= 8 {
		n++
	}
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*uint(i))))
	}
	return b
}

// AppendBigUint appends the magnitude of n (its sign is ignored) as an Ion
// UInt: big-endian in as few bytes as possible, nothing for 0.
func AppendBigUint(b []byte, n *big.Int) []byte {
	k := (n.BitLen() + 7) / 8
	start := len(b)
	b = slices.Grow(b, k)[:start+k]
	n.FillBytes(b[start:])
	return b
}

// AppendInt appends an Ion Int (sign and magnitude) of magnitude mag,
// negative when neg: the big-endian magnitude in as few bytes as leave the
// top bit free for the sign. A zero magnitude is empty unless neg is set,
// when it is the negative zero 0x80 (only a decimal coefficient uses it).
func AppendInt(b []byte, mag uint64, neg bool) []byte {
	if mag == 0 {
		if neg {
			return append(b, 0x80)
		}
		return b
	}
	start := len(b)
	b = AppendUint(b, mag)
	if b[start]&0x80 != 0 {
		b = append(b[:start+1], b[start:]...)
		b[start] = 0
	}
	if neg {
		b[start] |= 0x80
	}
	return b
}

// AppendBigInt appends n as an Ion Int (sign and magnitude, as AppendInt);
// zero is empty.
func AppendBigInt(b []byte, n *big.Int) []byte {
	start := len(b)
	b = AppendBigUint(append(b, 0), n)
	if len(b) == start+1 {
		return b[:start]
	}
	if b[start+1]&0x80 == 0 { // the sign fits in the magnitude's first byte
		b = append(b[:start], b[start+1:]...)
	}
	if n.Sign() < 0 {
		b[start] |= 0x80
	}
	return b
}

// AppendFloat64 appends f as an 8-byte IEEE 754 binary64 representation
// (sign of zero and NaN payload kept).
func AppendFloat64(b []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f))
}

// AppendDecimal appends the representation (no type descriptor) of d as
// ion-go and ion-java write it: nothing for 0d0, otherwise the exponent as a
// VarInt followed by the coefficient as an Int, 0x80 for negative zero and
// nothing for a positive zero coefficient. d and its coefficient must not be
// nil.
func AppendDecimal(b []byte, d *ion.Decimal) []byte {
	coef, exp := d.CoEx()
	negZero := IsNegativeZero(d)
	if !negZero && exp == 0 && coef.Sign() == 0 {
		return b
	}
	b = AppendVarInt(b, int64(exp))
	switch {
	case negZero:
		return append(b, 0x80)
	case coef.Sign() != 0:
		return AppendBigInt(b, coef)
	}
	return b
}

// IsNegativeZero reports whether d is a negative zero decimal such as -0.
// or -0.00. This is ion-go's own negative-zero flag, which its text form,
// its writer and its reader all follow: its reader and parser set it only
// for a zero coefficient, and its writer and String treat a flagged decimal
// as -0 whatever its coefficient. Every encoder and comparison in Strand
// uses this one rule.
func IsNegativeZero(d *ion.Decimal) bool {
	if d == nil {
		return false
	}
	if decimalNegZeroField >= 0 {
		return reflect.ValueOf(d).Elem().Field(decimalNegZeroField).Bool()
	}
	return strings.HasPrefix(d.String(), "-0")
}

// decimalNegZeroField is the index of ion.Decimal's unexported negative-zero
// flag, or -1 when this ion-go version has no such bool field (then
// IsNegativeZero reads the text form, which starts with "-0" exactly when
// the flag is set). ion-go exposes the flag only through String, which
// allocates; reflection reads it for free.
var decimalNegZeroField = func() int {
	f, ok := reflect.TypeFor[ion.Decimal]().FieldByName("isNegZero")
	if !ok || f.Type.Kind() != reflect.Bool || len(f.Index) != 1 {
		return -1
	}
	return f.Index[0]
}()

// AppendTimestamp appends the representation (no type descriptor) of ts as
// ion-go's binary writer encodes it: the offset in minutes as a VarInt (-0,
// the byte 0xC0, for an unknown offset), then the UTC fields the precision
// calls for as VarUInts, and for nanosecond precision with fractional
// digits the fraction as exponent -digits (a VarInt) and the truncated
// fraction as an Int (nothing for zero). ion-java writes the same bytes:
// ion-go gives every timestamp of day precision or coarser an unknown
// offset. The year must be in 1..9999 for the result to be valid Ion.
func AppendTimestamp(b []byte, ts ion.Timestamp) []byte {
	dt := ts.GetDateTime()
	precision := ts.GetPrecision()
	if ts.GetTimezoneKind() == ion.TimezoneUnspecified {
		b = append(b, 0xC0)
	} else {
		_, offset := dt.Zone()
		b = AppendVarInt(b, int64(offset/60))
	}
	utc := dt.UTC()
	year, month, day := utc.Date()
	hour, minute, sec := utc.Clock()
	b = AppendVarUint(b, uint64(year))
	switch precision { // as ion-go: an unknown precision writes the year only
	case ion.TimestampPrecisionMonth:
		b = AppendVarUint(b, uint64(month))
	case ion.TimestampPrecisionDay:
		b = AppendVarUint(AppendVarUint(b, uint64(month)), uint64(day))
	case ion.TimestampPrecisionMinute:
		b = AppendVarUint(AppendVarUint(b, uint64(month)), uint64(day))
		b = AppendVarUint(AppendVarUint(b, uint64(hour)), uint64(minute))
	case ion.TimestampPrecisionSecond, ion.TimestampPrecisionNanosecond:
		b = AppendVarUint(AppendVarUint(b, uint64(month)), uint64(day))
		b = AppendVarUint(AppendVarUint(b, uint64(hour)), uint64(minute))
		b = AppendVarUint(b, uint64(sec))
	}
	if digits := ts.GetNumberOfFractionalSeconds(); precision == ion.TimestampPrecisionNanosecond && digits > 0 {
		b = AppendVarInt(b, -int64(digits))
		b = AppendInt(b, uint64(ts.TruncatedNanoseconds()), false)
	}
	return b
}

// ReadVarUint reads an Ion VarUInt from the start of p and returns it with
// its length. Like ion-go's reader it reads at most 10 bytes (bits beyond 64
// are shifted out); ok is false when p ends first or the encoding is longer.
func ReadVarUint(p []byte) (v uint64, n int, ok bool) {
	for i := 0; i < len(p) && i < 10; i++ {
		v = v<<7 | uint64(p[i]&0x7F)
		if p[i]&0x80 != 0 {
			return v, i + 1, true
		}
	}
	return 0, 0, false
}

// ReadVarInt reads an Ion VarInt of at most 9 bytes from the start of p;
// negZero reports a -0 (an unknown timestamp offset). ok is false when p
// ends first or the encoding is longer.
func ReadVarInt(p []byte) (v int64, negZero bool, n int, ok bool) {
	if len(p) == 0 {
		return 0, false, 0, false
	}
	neg := p[0]&0x40 != 0
	v = int64(p[0] & 0x3F)
	n = 1
	for p[n-1]&0x80 == 0 {
		if n == len(p) || n == 9 {
			return 0, false, 0, false
		}
		v = v<<7 | int64(p[n]&0x7F)
		n++
	}
	if neg {
		return -v, v == 0, n, true
	}
	return v, false, n, true
}

// ReadUint reads the big-endian Ion UInt p of at most 8 bytes (0 when p is
// empty); ok is false when p is longer.
func ReadUint(p []byte) (uint64, bool) {
	if len(p) > 8 {
		return 0, false
	}
	var v uint64
	for _, c := range p {
		v = v<<8 | uint64(c)
	}
	return v, true
}
