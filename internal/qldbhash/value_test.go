package qldbhash

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/testenv"
)

// diffCase is one value of the differential table.
type diffCase struct {
	name string
	v    *ionvalue.Value
}

func field(name string, v *ionvalue.Value) ionvalue.Field {
	return ionvalue.Field{Name: name, Value: v}
}

func annotated(v *ionvalue.Value, anns ...string) *ionvalue.Value {
	c := *v
	c.Annotations = anns
	return &c
}

func bigInt(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 0)
	if !ok {
		panic("bad big int " + s)
	}
	return n
}

// bigValue is an Ion int held in BigInt even when it fits int64 (ionvalue's
// constructors would normalise that away; the hashers must not care).
func bigValue(n *big.Int) *ionvalue.Value { return &ionvalue.Value{Type: ion.IntType, BigInt: n} }

func dec(s string) *ionvalue.Value { return ionvalue.DecimalValue(ion.MustParseDecimal(s)) }

func ts(s string) *ionvalue.Value { return ionvalue.Timestamp(ion.MustParseTimestamp(s)) }

// allBytes returns the bytes 0..255, n times over.
func allBytes(n int) []byte {
	b := make([]byte, 0, 256*n)
	for range n {
		for c := range 256 {
			b = append(b, byte(c))
		}
	}
	return b
}

// diffTable is the differential table: every Ion type and the edge cases of
// each, as ionvalue trees. Cases that must fail are included; the fast path
// and the reference must then both fail.
func diffTable() []diffCase {
	var cs []diffCase
	add := func(name string, v *ionvalue.Value) { cs = append(cs, diffCase{name, v}) }

	// Nulls: untyped, typed for every type, odd spellings, annotated.
	add("null", ionvalue.Null())
	add("zero Value (NoType)", &ionvalue.Value{})
	add("NullType not marked IsNull", &ionvalue.Value{Type: ion.NullType})
	for t := ion.NoType; t <= ion.StructType; t++ {
		add("typed null "+t.String(), ionvalue.TypedNull(t))
		add("annotated typed null "+t.String(), annotated(ionvalue.TypedNull(t), "a", "b"))
	}
	add("typed null of an unknown type", &ionvalue.Value{Type: ion.Type(99), IsNull: true})
	add("typed null of type 14", &ionvalue.Value{Type: ion.Type(14), IsNull: true})
	add("typed null of type 255", &ionvalue.Value{Type: ion.Type(255), IsNull: true})

	add("true", ionvalue.Bool(true))
	add("false", ionvalue.Bool(false))

	// Ints: zero, small, byte boundaries, int64 limits, beyond, long form
	// (14+ magnitude bytes) and magnitudes holding bytes that need escaping.
	for _, n := range []int64{0, 1, -1, 11, 12, 14, -11, -14, 127, 128, -128, 255, 256, -256, 0x0B0C0E, -0x0E0B,
		65535, 65536, 1 << 31, -(1 << 31), math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64, math.MinInt64 + 1,
		0x0B00000000000000, -0x0E0E0E0E0E0E0E0E} {
		add(fmt.Sprintf("int %d", n), ionvalue.Int(n))
	}
	for _, s := range []string{
		"9223372036854775808", "-9223372036854775809", "18446744073709551615", "-18446744073709551615",
		"18446744073709551616", "-18446744073709551616", "18446744073709551617",
		"0x0b0c0e0b0c0e0b0c0e0b0c0e0b", "0x800000000000000000000000000000", "-0x800000000000000000000000000000",
		"340282366920938463463374607431768211456", "-340282366920938463463374607431768211457",
		"0x" + strings.Repeat("ff", 64), "-0x" + strings.Repeat("0b", 100),
	} {
		add("big int "+s, ionvalue.BigIntValue(bigInt(s)))
	}
	add("BigInt holding 0", bigValue(big.NewInt(0)))
	add("BigInt holding 5", bigValue(big.NewInt(5)))
	add("BigInt holding -1", bigValue(big.NewInt(-1)))
	add("BigInt holding MinInt64", bigValue(big.NewInt(math.MinInt64)))

	// Floats: zeros, NaNs (with payloads and sign), infinities, subnormals of
	// both widths, float32-exact and float64-only values, escape bytes.
	for _, f := range []float64{
		0, math.Copysign(0, -1), math.NaN(), -math.NaN(), math.Float64frombits(0x7FF0000000000001),
		math.Float64frombits(0xFFF8000000000123), math.Inf(1), math.Inf(-1), 1, -1, 1.5, 0.1, -0.1, 1e300, -1e-300,
		math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64,
		math.Float64frombits(0x000FFFFFFFFFFFFF), math.SmallestNonzeroFloat32, math.MaxFloat32, -math.MaxFloat32,
		float64(math.Float32frombits(0x00000001)), float64(math.Float32frombits(0x007FFFFF)),
		math.Float64frombits(0x0B0C0E0B0C0E0B0C), math.Float64frombits(0x400B0C0E00000000), 16777217, 3.0000001,
	} {
		add(fmt.Sprintf("float %v (%016x)", f, math.Float64bits(f)), ionvalue.Float(f))
	}

	// Decimals: zero and negative zero with exponents, coefficients needing a
	// sign byte, big coefficients, extreme exponents, escape bytes.
	for _, s := range []string{
		"0.", "-0.", "0.0", "-0.0", "-0.00", "0d5", "-0d5", "0d-5", "-0d-5", "1.", "-1.", "1.0", "1.00", "90.25",
		"5d3", "12d-40", "-1.5", "1.1", "12.7", "12.8", "-12.8", "25.5", "25.6", "-25.6", "1.1d-11", "11d11",
		"123456789012345678901234567890.123456789", "-123456789012345678901234567890.123456789",
		"1d2147483647", "1d-2147483648", "-7d-2147483648", "0d2147483647", "-0d-2147483648",
		"3.14159265358979323846264338327950288419716939937510582097494459",
	} {
		add("decimal "+s, dec(s))
	}
	add("decimal 10^60", ionvalue.DecimalValue(ion.NewDecimal(new(big.Int).Exp(big.NewInt(10), big.NewInt(60), nil), -3, false)))
	add("decimal 0x0b0c0e coefficient", ionvalue.DecimalValue(ion.NewDecimal(big.NewInt(0x0B0C0E), -11, false)))
	add("decimal 0x800000 coefficient", ionvalue.DecimalValue(ion.NewDecimal(big.NewInt(0x800000), 14, false)))
	add("decimal -0x80 coefficient", ionvalue.DecimalValue(ion.NewDecimal(big.NewInt(-0x80), 12, false)))
	add("decimal negZero flag with coefficient 5", ionvalue.DecimalValue(ion.NewDecimal(big.NewInt(5), 0, true)))
	add("decimal negZero flag with coefficient -5", ionvalue.DecimalValue(ion.NewDecimal(big.NewInt(-5), -2, true)))
	add("decimal negZero flag, exponent 0", ionvalue.DecimalValue(ion.NewDecimal(big.NewInt(0), 0, true)))
	add("decimal NewDecimalInt(-42)", ionvalue.DecimalValue(ion.NewDecimalInt(-42)))

	// Timestamps: every precision, offsets (UTC, +00:00, -00:00 unknown,
	// positive, negative, extreme), fractions of 1..9 digits with and without
	// significant digits, and values only the Go API can build.
	for _, s := range []string{
		"2007T", "2007-02T", "2007-02-23", "2007-02-23T", "0001T", "9999-12-31",
		"2007-02-23T12:14Z", "2007-02-23T12:14+00:00", "2007-02-23T12:14-00:00", "2007-02-23T12:14+05:30",
		"2007-02-23T00:14+01:00", "2007-02-23T12:14-08:00", "2007-02-23T12:14+23:59", "2007-02-23T12:14-23:59",
		"2007-02-23T12:14:33Z", "2007-02-23T12:14:33-00:00", "2007-02-23T12:14:33+14:00",
		"2019-09-16T19:37:05.344Z", "2007-02-23T12:14:33.079-08:00", "2007-02-23T12:14:33.123456789Z",
		"2007-02-23T12:14:33.0Z", "2007-02-23T12:14:33.000Z", "2007-02-23T12:14:33.000000000Z",
		"2007-02-23T12:14:33.000000001Z", "2007-02-23T12:14:33.100000000Z", "2007-02-23T12:14:33.999999999-00:00",
		"1792-11-11T11:11:11.11-00:00", "1792-12-14T14:14:14.1414+14:14", "0001-01-01T00:00:00.000000000Z",
		"9999-12-31T23:59:59.999999999-23:59", "2000-02-29T12:00:00.5+00:00",
	} {
		add("timestamp "+s, ts(s))
	}
	base := time.Date(2021, 5, 25, 13, 41, 31, 123456789, time.UTC)
	for digits := uint8(0); digits <= 10; digits++ {
		add(fmt.Sprintf("timestamp %d fractional digits", digits),
			ionvalue.Timestamp(ion.NewTimestampWithFractionalSeconds(base, ion.TimestampPrecisionNanosecond, ion.TimezoneUTC, digits)))
		add(fmt.Sprintf("timestamp %d fractional digits, unknown offset", digits),
			ionvalue.Timestamp(ion.NewTimestampWithFractionalSeconds(base, ion.TimestampPrecisionNanosecond, ion.TimezoneUnspecified, digits)))
	}
	zones := []*time.Location{time.UTC, time.FixedZone("", 3600), time.FixedZone("", -90), time.FixedZone("", 59),
		time.FixedZone("", -59), time.FixedZone("", 11*60), time.FixedZone("", -14*60), time.FixedZone("", 86399)}
	for zi, zone := range zones {
		t := time.Date(1999, 12, 31, 23, 59, 59, 500000000, zone)
		for p := ion.TimestampNoPrecision; p <= ion.TimestampPrecisionNanosecond+1; p++ {
			for k := ion.TimezoneUnspecified; k <= ion.TimezoneLocal; k++ {
				add(fmt.Sprintf("timestamp zone %d precision %d kind %d", zi, p, k),
					ionvalue.Timestamp(ion.NewTimestampWithFractionalSeconds(t, p, k, 3)))
			}
			add(fmt.Sprintf("timestamp zone %d precision %d NewTimestamp", zi, p), ionvalue.Timestamp(ion.NewTimestamp(t, p, ion.TimezoneLocal)))
			add(fmt.Sprintf("timestamp zone %d precision %d NewDateTimestamp", zi, p), ionvalue.Timestamp(ion.NewDateTimestamp(t, p)))
		}
	}
	add("timestamp zero value", ionvalue.Timestamp(ion.Timestamp{}))
	add("timestamp year -5", ionvalue.Timestamp(ion.NewTimestamp(time.Date(-5, 3, 1, 0, 0, 0, 0, time.UTC), ion.TimestampPrecisionSecond, ion.TimezoneUTC)))
	add("timestamp year 12345", ionvalue.Timestamp(ion.NewTimestamp(time.Date(12345, 3, 1, 0, 0, 0, 0, time.UTC), ion.TimestampPrecisionDay, ion.TimezoneUTC)))
	add("timestamp year 1792 (VarUInt 0E 80)", ionvalue.Timestamp(ion.NewTimestamp(time.Date(1792, 1, 1, 0, 0, 0, 0, time.UTC), ion.TimestampPrecisionYear, ion.TimezoneUnspecified)))
	add("TimeMillis", ionvalue.TimeMillis(time.Date(2019, 9, 16, 19, 37, 5, 344999999, time.FixedZone("", 7200))))

	// Strings, symbols and lobs: empty, escape bytes, invalid UTF-8, and
	// lengths around the short/long escaping paths.
	texts := []string{"", "abc", "\x0b", "\x0c", "\x0e", "\x0b\x0c\x0e", "a\x0bb\x0cc\x0ed", "\x0e\x0e\x0e\x0e", "ünïcødé 🎉",
		"\xff\xfe invalid UTF-8", "\x00\x01\x0f\x10", "$", "$7", "$0", "$ion_symbol_table", "hello world", "'quoted'",
		string(allBytes(1)), string(allBytes(3)),
		strings.Repeat("x", 63) + "\x0b", strings.Repeat("x", 64) + "\x0b", strings.Repeat("x", 64), strings.Repeat("\x0c", 65),
		"\x0e" + strings.Repeat("y", 100) + "\x0b", strings.Repeat("\x0bA\x0c", 1000) + strings.Repeat("z", 5000) + "\x0e",
	}
	for i, s := range texts {
		add(fmt.Sprintf("string %d %q", i, trunc(s)), ionvalue.String(s))
		add(fmt.Sprintf("symbol %d %q", i, trunc(s)), ionvalue.Symbol(s))
		add(fmt.Sprintf("blob %d %q", i, trunc(s)), ionvalue.Blob([]byte(s)))
		add(fmt.Sprintf("clob %d %q", i, trunc(s)), ionvalue.Clob([]byte(s)))
	}
	add("blob nil", ionvalue.Blob(nil))
	add("clob nil", ionvalue.Clob(nil))
	long := []byte(strings.Repeat("0123456789", 10000))
	long[0], long[5000], long[len(long)-1] = 0x0B, 0x0C, 0x0E
	add("string 100,000 bytes with escapes", ionvalue.String(string(long)))
	add("blob 100,000 bytes with escapes", ionvalue.Blob(long))

	// Containers: empty, nested, nulls inside, annotations at every level.
	add("empty list", ionvalue.List())
	add("empty sexp", ionvalue.Sexp())
	add("empty struct", ionvalue.Struct())
	add("list of nulls", ionvalue.List(ionvalue.Null(), ionvalue.TypedNull(ion.ListType), ionvalue.TypedNull(ion.StructType)))
	add("nested lists", ionvalue.List(ionvalue.Int(1), ionvalue.List(ionvalue.Int(2), ionvalue.List(ionvalue.Int(3)))))
	add("sexp", ionvalue.Sexp(ionvalue.Symbol("+"), ionvalue.Int(1), ionvalue.Sexp()))
	add("annotated empty containers", ionvalue.List(annotated(ionvalue.List(), "l"), annotated(ionvalue.Sexp(), "s", "t"), annotated(ionvalue.Struct(), "u")))
	add("annotations with escape bytes", annotated(ionvalue.Int(1), "\x0b", "\x0c\x0e", ""))
	add("many annotations", annotated(ionvalue.String("x"), "a", "b", "c", "d", "e", "f", "g", "h"))
	add("annotated container in annotated container",
		annotated(ionvalue.List(annotated(ionvalue.Struct(field("a", annotated(ionvalue.List(ionvalue.Int(1)), "x"))), "y")), "z"))
	deepList := ionvalue.Int(7)
	deepStruct := ionvalue.Int(7)
	for i := range 100 {
		deepList = ionvalue.List(deepList)
		deepStruct = ionvalue.Struct(field(fmt.Sprint("f", i%3), deepStruct))
	}
	add("list nested 100 deep", deepList)
	add("struct nested 100 deep", deepStruct)

	// Structs: order independence, duplicates (identical field hashes tie in
	// the sort), empty and escaped names, nested and annotated field values.
	add("struct", ionvalue.Struct(field("name", ionvalue.String("x")), field("n", ionvalue.Int(1))))
	add("struct reordered", ionvalue.Struct(field("n", ionvalue.Int(1)), field("name", ionvalue.String("x"))))
	add("struct duplicate fields, same value", ionvalue.Struct(field("a", ionvalue.Int(1)), field("a", ionvalue.Int(1)), field("a", ionvalue.Int(1))))
	add("struct duplicate names, different values", ionvalue.Struct(field("a", ionvalue.Int(2)), field("a", ionvalue.Int(1)), field("a", ionvalue.Null())))
	add("struct empty field name", ionvalue.Struct(field("", ionvalue.Int(1)), field("", ionvalue.String(""))))
	add("struct field names with escape bytes", ionvalue.Struct(field("\x0b", ionvalue.Int(1)), field("\x0e\x0c", ionvalue.Int(2))))
	add("struct field name $", ionvalue.Struct(field("$", ionvalue.Int(1)), field("$x", ionvalue.Int(1)), field("a$1", ionvalue.Int(1))))
	add("struct with annotated field values", ionvalue.Struct(
		field("a", annotated(ionvalue.Int(1), "ann")),
		field("b", annotated(ionvalue.Struct(field("c", annotated(ionvalue.TypedNull(ion.StringType), "n"))), "s1", "s2")),
		field("d", annotated(ionvalue.List(annotated(ionvalue.Struct(), "e")), "l"))))
	add("struct of every type", ionvalue.Struct(
		field("null", ionvalue.Null()), field("bool", ionvalue.Bool(true)), field("int", ionvalue.Int(-5)),
		field("big", ionvalue.BigIntValue(bigInt("-18446744073709551616"))), field("float", ionvalue.Float(-0.0)),
		field("decimal", dec("-0.00")), field("timestamp", ts("2007-02-23T12:14:33.079-00:00")),
		field("symbol", ionvalue.Symbol("sym")), field("string", ionvalue.String("str")),
		field("clob", ionvalue.Clob([]byte("\x0b"))), field("blob", ionvalue.Blob([]byte{0x0e})),
		field("list", ionvalue.List()), field("sexp", ionvalue.Sexp()), field("struct", ionvalue.Struct()),
		field("nullstruct", ionvalue.TypedNull(ion.StructType))))
	var many []ionvalue.Field
	for i := range 300 {
		many = append(many, field(fmt.Sprint("k", i%37), ionvalue.Int(int64(i%5))))
	}
	add("struct with 300 fields and duplicates", ionvalue.Struct(many...))
	add("list of structs in struct", ionvalue.Struct(field("l", ionvalue.List(
		ionvalue.Struct(field("a", ionvalue.Int(1))), ionvalue.Struct(), ionvalue.Struct(field("a", ionvalue.Int(1)))))))

	// Values that cannot be hashed: both paths must fail.
	add("nil value", nil)
	add("list holding nil", ionvalue.List(ionvalue.Int(1), nil))
	add("struct field holding nil", ionvalue.Struct(field("a", ionvalue.Int(1)), field("b", nil)))
	add("decimal without Decimal", &ionvalue.Value{Type: ion.DecimalType})
	add("field name $7", ionvalue.Struct(field("$7", ionvalue.Int(1))))
	add("nested field name $10", ionvalue.List(ionvalue.Struct(field("ok", ionvalue.Struct(field("$10", ionvalue.Int(1)))))))
	add("annotation $12", annotated(ionvalue.Int(1), "a", "$12"))
	add("annotation $0 on a null", annotated(ionvalue.Null(), "$0"))
	add("unknown type 99", &ionvalue.Value{Type: ion.Type(99)})
	add("unknown type 14 in a list", ionvalue.List(&ionvalue.Value{Type: ion.Type(14)}))
	return cs
}

// knownTypes reports whether every value in v has a type ion-go knows.
func knownTypes(v *ionvalue.Value) bool {
	if v.Type > ion.StructType {
		return false
	}
	for _, e := range v.Elems {
		if !knownTypes(e) {
			return false
		}
	}
	for _, f := range v.Fields {
		if !knownTypes(f.Value) {
			return false
		}
	}
	return true
}

func trunc(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

// checkValue compares the fast path with ion-hash-go for v: both must fail,
// or both succeed with the same hash.
func checkValue(t testing.TB, name string, v *ionvalue.Value) {
	t.Helper()
	want, werr := hashReference(v)
	got, gerr := HashValue(v)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("%s: reference err %v, fast err %v", name, werr, gerr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: fast %x, reference %x", name, got, want)
	}
	if errors.Is(werr, ionvalue.ErrSymbolIDText) != errors.Is(gerr, ionvalue.ErrSymbolIDText) {
		t.Fatalf("%s: reference err %v, fast err %v", name, werr, gerr)
	}
}

// checkIon compares HashIon with ion-hash-go's HashReader over b, and
// HashIonValue with both. Binary input that declares more bytes than it holds
// must fail without the reference being run: ion-go may try to allocate
// whatever length the input declares.
func checkIon(t testing.TB, name string, b []byte) {
	t.Helper()
	got, gerr := HashIon(b)
	v, vsum, verr := HashIonValue(b)
	if ionvalue.CheckBinaryLengths(b) != nil {
		if gerr == nil || verr == nil || !errors.Is(gerr, ionvalue.ErrLength) {
			t.Fatalf("%s: HashIon(%x) of an overlong value = %x, %v; HashIonValue err %v", name, b, got, gerr, verr)
		}
		return
	}
	forIonGo, err := ionvalue.ForIonGo(b)
	if err != nil {
		t.Fatalf("%s: ForIonGo(%x) refuses what CheckBinaryLengths accepts: %v", name, b, err)
	}
	want, werr := hashIonReference(forIonGo)
	if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
		t.Fatalf("%s: HashIon(%x) = %x, %v; reference %x, %v", name, b, got, gerr, want, werr)
	}
	if verr == nil && (v == nil || !bytes.Equal(vsum, got)) || verr != nil && gerr == nil && v != nil {
		t.Fatalf("%s: HashIonValue(%x) = %v, %x, %v; HashIon %x, %v", name, b, v, vsum, verr, got, gerr)
	}
	if verr == nil {
		if dv, err := ionvalue.DecodeOne(b); err != nil || !ionvalue.Equal(dv, v) {
			t.Fatalf("%s: HashIonValue value %v, DecodeOne %v, %v", name, v, dv, err)
		}
	}
}

func TestFastHashMatchesReference(t *testing.T) {
	table := diffTable()
	failing := 0
	for _, c := range table {
		checkValue(t, c.name, c.v)
		if _, err := HashValue(c.v); err != nil {
			failing++
			continue
		}
		if !knownTypes(c.v) {
			continue // ion-go's writers panic on those (binaryNulls[t])
		}
		// The same value as the driver sends it (binary, with a local symbol
		// table when it uses symbols) and as text, through HashIon.
		if bin, err := ionvalue.MarshalBinary(c.v); err == nil {
			if err := ionvalue.CheckBinaryLengths(bin); err != nil {
				t.Fatalf("%s: checkBinaryLengths rejects a valid encoding: %v", c.name, err)
			}
			checkIon(t, c.name+" (binary)", bin)
		}
		checkIon(t, c.name+" (text)", []byte(ionvalue.MarshalText(c.v)))
		if c.v.Type == ion.StringType && !c.v.IsNull && len(c.v.Annotations) == 0 {
			if got, want := HashString(c.v.Text), Hash(c.v); !bytes.Equal(got, want) {
				t.Fatalf("%s: HashString %x, Hash %x", c.name, got, want)
			}
		}
	}
	if len(table) < 500 || failing < 10 {
		t.Fatalf("table has %d cases, %d failing: too few", len(table), failing)
	}
}

// TestFastHashErrors checks the error contract of the fast path itself.
func TestFastHashErrors(t *testing.T) {
	cases := []struct {
		v        *ionvalue.Value
		symbolID bool
	}{
		{nil, false},
		{ionvalue.Struct(field("$7", ionvalue.Int(1))), true},
		{annotated(ionvalue.Int(1), "$3"), true},
		{ionvalue.List(ionvalue.Struct(field("a", annotated(ionvalue.Null(), "$44")))), true},
		{&ionvalue.Value{Type: ion.DecimalType}, false},
		// ion-hash-go panics on a decimal without coefficient; the fast path fails.
		{ionvalue.DecimalValue(ion.NewDecimal(nil, 0, false)), false},
		{&ionvalue.Value{Type: ion.Type(42)}, false},
	}
	for i, c := range cases {
		_, err := HashValue(c.v)
		if err == nil || !strings.HasPrefix(err.Error(), "qldbhash: hash: ") {
			t.Errorf("case %d: err = %v", i, err)
		}
		if errors.Is(err, ionvalue.ErrSymbolIDText) != c.symbolID {
			t.Errorf("case %d: err = %v, want ErrSymbolIDText %v", i, err, c.symbolID)
		}
	}
	// Symbol values of the form $<digits> are plain text to HashValue.
	if _, err := HashValue(ionvalue.Symbol("$7")); err != nil {
		t.Error(err)
	}
}

// ivm is the Ion 1.0 binary version marker.
const ivm = "\xe0\x01\x00\xea"

// lst returns a binary local symbol table struct declaring symbols (each a
// string, or null for "no text") after the system symbols.
func lst(imports []byte, symbols ...*string) []byte {
	var list []byte
	for _, s := range symbols {
		if s == nil {
			list = append(list, 0x0F)
			continue
		}
		list = append(list, ionTL(0x80, len(*s))...)
		list = append(list, *s...)
	}
	var body []byte
	if imports != nil {
		body = append(body, 0x86) // imports:
		body = append(body, imports...)
	}
	body = append(body, 0x87) // symbols:
	body = append(body, ionTL(0xB0, len(list))...)
	body = append(body, list...)
	st := append(ionTL(0xD0, len(body)), body...)
	// $ion_symbol_table:: annotation wrapper.
	wrapped := append([]byte{0x81, 0x83}, st...)
	return append(ionTL(0xE0, len(wrapped)), wrapped...)
}

// ionTL is a binary type descriptor with length n.
func ionTL(code byte, n int) []byte {
	if n < 14 {
		return []byte{code | byte(n)}
	}
	var v []byte
	for x := n; ; x >>= 7 {
		v = append([]byte{byte(x & 0x7F)}, v...)
		if x < 0x80 {
			break
		}
	}
	v[len(v)-1] |= 0x80
	return append([]byte{code | 0x0E}, v...)
}

func strp(s string) *string { return &s }

// ionInputs are raw Ion streams for HashIon: driver-style binary with local
// symbol tables, symbols whose text is unknown (SID 0, null slots, shared
// imports that are not in the catalog), odd text spellings and bad input.
func ionInputs(t testing.TB) map[string][]byte {
	in := map[string][]byte{}
	put := func(name string, b []byte) { in[name] = b }
	sym := lst(nil, strp("name"), strp("n"), nil, strp("$5"), strp("\x0b\x0e"), strp(""))
	// Local SIDs: name=10 n=11 (null)=12 "$5"=13 "\x0b\x0e"=14 ""=15.
	put("LST struct", []byte(ivm+string(sym)+"\xd6\x8a\x81x\x8b\x21\x01"))
	put("LST symbol values", []byte(ivm+string(sym)+"\xbc\x71\x0a\x71\x0b\x71\x0e\x71\x0f\x71\x04\x71\x03"))
	put("LST annotations", []byte(ivm+string(sym)+"\xe5\x82\x8a\x8e\x21\x05"))
	put("symbol with null text slot", []byte(ivm+string(sym)+"\x71\x0c"))
	put("field name with null text slot", []byte(ivm+string(sym)+"\xd3\x8c\x21\x01"))
	put("annotation with null text slot", []byte(ivm+string(sym)+"\xe4\x81\x8c\x21\x01"))
	put("symbol text $5", []byte(ivm+string(sym)+"\x71\x0d"))
	put("field name text $5", []byte(ivm+string(sym)+"\xd3\x8d\x21\x01"))
	put("symbol SID 0", []byte(ivm+"\x70"))
	put("symbol SID 0 long", []byte(ivm+"\x71\x00"))
	put("field name SID 0", []byte(ivm+"\xd2\x80\x20"))
	put("annotation SID 0", []byte(ivm+"\xe4\x81\x80\x21\x01"))
	put("symbol SID out of range", []byte(ivm+"\x71\x63"))
	put("system symbol values", []byte(ivm+"\xb6\x71\x01\x71\x04\x71\x09"))
	// imports:[{name:"params.xyz",version:1,max_id:3}], a table the reader
	// does not have.
	imp := []byte("\xbe\x94\xde\x92\x84\x8aparams.xyz\x85\x21\x01\x88\x21\x03")
	shared := lst(imp, strp("local"))
	// SIDs 10..12 come from the missing shared table; "local" is 13.
	put("shared import symbol", []byte(ivm+string(shared)+"\x71\x0b"))
	put("shared import field names", []byte(ivm+string(shared)+"\xd6\x8a\x21\x01\x8d\x21\x02"))
	put("shared import local symbol", []byte(ivm+string(shared)+"\x71\x0d"))
	put("two values", []byte(ivm+"\x21\x01\x21\x02"))
	put("no value", []byte(ivm))
	put("empty", nil)
	put("IVM only then LST", append([]byte(ivm), sym...))
	put("truncated", []byte(ivm+"\x85\x61"))
	put("bad type code", []byte(ivm+"\xf0"))
	put("int declaring 2 TB (fuzz find)", []byte("\xe0\x01\x00\xea.@\b\x00\x00*\xe0\x01\x00k\xf9"))
	put("string declaring more than the input", []byte(ivm+"\x8e\x7f\x7f\x7f\xff"+"abc"))
	put("truncated top-level list", []byte(ivm+"\xb5\x21\x01"))
	put("truncated top-level struct", []byte(ivm+"\xde\x8a\x84\x21\x01"))
	put("truncated ordered struct", []byte(ivm+"\xd1\x8a\x84\x21\x01"))
	put("annotation list overrunning its wrapper", []byte(ivm+"\xe3\x85\x84\x2e\xff\xff\xff\xff\xff\xff\xff\xff\x80"))
	put("annotation wrapper with empty value", []byte(ivm+"\xe2\x81\x84"))
	put("overlong value inside a list", []byte(ivm+"\xb6\x8e\x7f\x7f\x7f\xff\x00"))
	put("overlong value inside an annotation", []byte(ivm+"\xe7\x81\x84\x8e\x7f\x7f\xff\x00"))
	// ion-go loses its place in this symbol table (its last field name
	// runs past the struct) and reads the bytes after the struct header as
	// a top-level blob of 1.6 TB (FuzzMarshalBinary find, 2026-12-07).
	put("symbol table field name past its struct (fuzz find)", []byte(ivm+"\xee\x93\x81\x83\xd1\x8f\xae00000\x81\x83\xd1000000"))
	// A sorted struct (0xD1), which ion-go reads as if its field names were
	// type descriptors: here a blob of 200 TB (FuzzMarshalBinary find).
	put("sorted struct symbol table (fuzz find)", []byte(ivm+"\xee\x93\x81\x83\xd1\x8f\xae000000\x81\x8300\x810\xd10\x830000"))
	put("sorted struct", []byte(ivm+"\xd1\x83\x84\x21\x01"))
	put("sorted struct inside a list", []byte(ivm+"\xb6\xd1\x84\x84\x82\x21\x01"))
	put("truncated NOP pad", []byte(ivm+"\x21\x01\x0e\x90"))
	put("second IVM then value", []byte(ivm+"\x21\x01"+ivm))
	put("IVM 1.1", []byte(ivm+"\xe0\x01\x01\xea\x21\x01"))
	put("negative zero int", []byte(ivm+"\x30"))
	put("negative zero int long", []byte(ivm+"\x31\x00"))
	put("int with leading zero byte", []byte(ivm+"\x22\x00\x05"))
	put("float32", []byte(ivm+"\x44\x3f\xc0\x00\x00"))
	put("float32 NaN payload", []byte(ivm+"\x44\x7f\x80\x00\x01"))
	put("float64 NaN payload", []byte(ivm+"\x48\x7f\xf0\x00\x00\x00\x00\x00\x01"))
	put("decimal negative zero", []byte(ivm+"\x52\xc2\x80"))
	put("nop pad", []byte(ivm+"\x03\x00\x00\x00\x21\x07"))
	put("struct with nop pad field", []byte(ivm+"\xd5\x84\x21\x01\x80\x00"))
	for _, text := range []string{
		"$0", "'$0'", "$5", "'$5'", "$99", "{$0:1}", "{'$0':1}", "$0::1", "'$0'::1", "$ion_symbol_table", "$ion_1_0 1",
		"$ion_symbol_table::{symbols:[\"a\",null,\"b\"]} $11", "$ion_symbol_table::{symbols:[\"a\"]} {$10:$10::$10}",
		"$ion_symbol_table::{imports:[{name:\"x\",version:1,max_id:2}]} $10", "a::b::c", "(a b::c)",
		"{a:1,a:1}", "2007-02-23T12:14:33.1234567891Z", "1.0e0", "0x0b", "-0x0e", "0b101", "1_000", "\"\\x0b\\x0c\\x0e\"",
		"{{\"\\x0b\"}}", "{{ Cww= }}", "'''a''' '''b'''", "nan", "-0e0", "null.struct", "[1, 2, ]", "{a:}", "/* c */ 1 // x",
		"1 2", "", "   ", "[", "}",
	} {
		put("text "+text, []byte(text))
	}
	// The Go driver's own encoding of parameters: ion.MarshalBinary.
	type person struct {
		Name  string    `ion:"name"`
		Age   int       `ion:"age"`
		Tags  []string  `ion:"tags"`
		Since time.Time `ion:"since"`
		Ratio float32   `ion:"ratio"`
	}
	for i, p := range []any{
		"TOYENC486FH", 5, int64(math.MinInt64), uint64(math.MaxUint64), 1.5, float32(0.1), true, nil, []byte{0x0b},
		ion.MustParseDecimal("-0.00"), time.Date(2021, 5, 25, 13, 41, 31, 123000000, time.FixedZone("", -5*3600)),
		person{"Alice", 30, []string{"a", "b\x0b"}, time.Date(2019, 9, 16, 19, 37, 5, 344000000, time.UTC), 2.5},
		map[string]any{"x": []any{1, "two", 3.0, nil, map[string]any{"y": ion.NewSymbolTokenFromString("z")}}},
	} {
		b, err := ion.MarshalBinary(p)
		if err != nil {
			t.Fatal(err)
		}
		put(fmt.Sprintf("driver param %d %T", i, p), b)
	}
	st := ion.NewSharedSymbolTable("params.xyz", 1, []string{"name", "age", "tags", "since", "ratio"})
	b, err := ion.MarshalBinary(person{"Bob", 1, nil, time.Unix(0, 0).UTC(), 1}, st)
	if err != nil {
		t.Fatal(err)
	}
	put("driver param with shared symbol table", b)
	return in
}

func TestHashIonMatchesReference(t *testing.T) {
	rejected := 0
	for name, b := range ionInputs(t) {
		checkIon(t, name, b)
		if ionvalue.CheckBinaryLengths(b) != nil {
			rejected++
		}
	}
	if rejected != 11 {
		t.Errorf("checkBinaryLengths rejected %d inputs, want the 11 malformed ones (8 overlong at the top level; 2 overlong inside a container, which ion-go refuses too; 1 that ion-go misreads)", rejected)
	}
}

// TestHashIonFallback checks that inputs with unknown symbol text take the
// reference path and that ordinary ones do not need it.
func TestHashIonFallback(t *testing.T) {
	v, err := ionvalue.DecodeOne([]byte(ivm + "\x70"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fastSum(v, true); err != errFallback {
		t.Errorf("symbol SID 0: fast path err = %v, want errFallback", err)
	}
	v = testenv.Ion(t, `{a:b::[c,{d:"$1"}]}`)
	if _, err := fastSum(v, true); err != nil {
		t.Errorf("ordinary value: %v", err)
	}
}

func TestAppendEscaped(t *testing.T) {
	naive := func(p []byte) []byte {
		var out []byte
		for _, c := range p {
			if c == 0x0B || c == 0x0C || c == 0x0E {
				out = append(out, 0x0C)
			}
			out = append(out, c)
		}
		return out
	}
	inputs := [][]byte{nil, {}, allBytes(1), allBytes(5), bytes.Repeat([]byte{0x0B}, 200), bytes.Repeat([]byte{0x0E, 'a'}, 100)}
	for n := 0; n <= 80; n++ {
		for pos := 0; pos < n; pos++ {
			for _, c := range []byte{0x0B, 0x0C, 0x0E} {
				p := bytes.Repeat([]byte{'a'}, n)
				p[pos] = c
				inputs = append(inputs, p)
			}
		}
	}
	for _, p := range inputs {
		want := naive(p)
		if got := appendEscapedBytes([]byte("pre"), p); !bytes.Equal(got[3:], want) || string(got[:3]) != "pre" {
			t.Fatalf("appendEscapedBytes(%x) = %x, want %x", p, got, want)
		}
		if got := appendEscaped(nil, string(p)); !bytes.Equal(got, want) {
			t.Fatalf("appendEscaped(%x) = %x, want %x", p, got, want)
		}
		if hasSpecial(p) != !bytes.Equal(p, want) {
			t.Fatalf("hasSpecial(%x) wrong", p)
		}
	}
}

func TestFastHashAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	doc := testenv.Ion(t, benchDocText)
	HashValue(doc) // warm the pool
	if n := testing.AllocsPerRun(100, func() { HashValue(doc) }); n > 1 {
		t.Errorf("HashValue allocates %v times per call, want 1 (the result)", n)
	}
	if n := testing.AllocsPerRun(100, func() { HashString("SELECT * FROM t WHERE a = ?") }); n > 1 {
		t.Errorf("HashString allocates %v times per call, want 1", n)
	}
}

// fuzzGen builds an ionvalue tree from fuzz bytes. Every byte string gives
// some value; short inputs give small values.
type fuzzGen struct {
	data  []byte
	nodes int
}

func (g *fuzzGen) byte() byte {
	if len(g.data) == 0 {
		return 0
	}
	b := g.data[0]
	g.data = g.data[1:]
	return b
}

func (g *fuzzGen) bytes(n int) []byte {
	n = min(n, len(g.data))
	b := g.data[:n]
	g.data = g.data[n:]
	return b
}

func (g *fuzzGen) u64() uint64 {
	var b [8]byte
	copy(b[:], g.bytes(8))
	return binary.LittleEndian.Uint64(b[:])
}

// alphabet biases generated text towards the bytes the hash treats
// specially, symbol-id spellings and duplicates.
const alphabet = "\x0b\x0c\x0e$0123abc\xc3\xa9\xff \x00"

func (g *fuzzGen) text() string {
	mode := g.byte()
	if mode >= 0xF0 {
		// $<digits>: symbol-id spelling (an error in field names and
		// annotations, a reference fallback in HashIon).
		return "$" + strconv.Itoa(int(mode&0x0F)*int(g.byte()))
	}
	n := int(mode & 0x1F)
	if mode&0x20 != 0 {
		n = n*8 + int(g.byte())
	}
	if mode&0x40 != 0 {
		return string(g.bytes(n))
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[int(g.byte())%len(alphabet)]
	}
	return string(b)
}

func (g *fuzzGen) bigInt() *big.Int {
	n := new(big.Int).SetBytes(g.bytes(int(g.byte() % 40)))
	if g.byte()&1 != 0 {
		n.Neg(n)
	}
	return n
}

var fuzzFloats = []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1), math.SmallestNonzeroFloat64,
	math.SmallestNonzeroFloat32, math.MaxFloat64, math.MaxFloat32, 1, 0.1}

func (g *fuzzGen) timestamp() ion.Timestamp {
	op := g.byte()
	if op == 0xFF {
		return ion.Timestamp{}
	}
	year := int(int16(binary.LittleEndian.Uint16(append(g.bytes(2), 0, 0))))
	if op&0x80 == 0 {
		year = 1 + (year&0x7FFF)%9999
	}
	zone := time.UTC
	switch op & 0x60 {
	case 0x20:
		zone = time.FixedZone("", (int(int8(g.byte()))*15)*60)
	case 0x40:
		zone = time.FixedZone("", int(int32(g.u64())%(48*3600)))
	}
	t := time.Date(year, time.Month(g.byte()%14), int(g.byte()%33), int(g.byte()%25), int(g.byte()%61), int(g.byte()%61),
		int(g.u64()%2e9), zone)
	p := ion.TimestampPrecision(g.byte() % 8)
	k := ion.TimezoneKind(g.byte() % 4)
	switch op & 0x18 {
	case 0:
		return ion.NewTimestampWithFractionalSeconds(t, p, k, g.byte()%12)
	case 0x08:
		return ion.NewTimestamp(t, p, k)
	case 0x10:
		return ion.NewDateTimestamp(t, p)
	default:
		return ion.NewTimestampWithFractionalSeconds(t, ion.TimestampPrecisionNanosecond, k, 1+g.byte()%9)
	}
}

func (g *fuzzGen) value(depth int) *ionvalue.Value {
	g.nodes++
	op := g.byte()
	flags := g.byte()
	var v *ionvalue.Value
	t := ion.Type(op % 15)
	if op%15 == 14 {
		t = ion.Type(g.byte()) // mostly unknown types
	}
	if flags&0x03 == 0x03 && t != ion.NoType {
		v = &ionvalue.Value{Type: t, IsNull: true}
	} else {
		v = &ionvalue.Value{Type: t}
		switch t {
		case ion.BoolType:
			v.Bool = flags&0x04 != 0
		case ion.IntType:
			if flags&0x04 != 0 {
				v.BigInt = g.bigInt()
			} else {
				v.Int = int64(g.u64() >> (g.byte() % 64))
				if flags&0x08 != 0 {
					v.Int = -v.Int
				}
			}
		case ion.FloatType:
			if flags&0x04 != 0 {
				v.Float = fuzzFloats[int(g.byte())%len(fuzzFloats)]
			} else if flags&0x08 != 0 {
				v.Float = float64(math.Float32frombits(uint32(g.u64())))
			} else {
				v.Float = math.Float64frombits(g.u64())
			}
		case ion.DecimalType:
			if flags&0x3C != 0x3C { // rarely a decimal without a Decimal
				exp := int32(int8(g.byte()))
				if flags&0x04 != 0 {
					exp = int32(uint32(g.u64()))
				}
				v.Decimal = ion.NewDecimal(g.bigInt(), exp, flags&0x08 != 0 && flags&0x10 != 0)
			}
		case ion.TimestampType:
			v.Time = g.timestamp()
		case ion.SymbolType, ion.StringType:
			v.Text = g.text()
		case ion.ClobType, ion.BlobType:
			if flags&0x04 == 0 {
				v.Bytes = []byte(g.text())
			}
		case ion.ListType, ion.SexpType:
			n := int(g.byte() % 6)
			for range n {
				if depth > 8 || g.nodes > 300 || len(g.data) == 0 {
					break
				}
				v.Elems = append(v.Elems, g.value(depth+1))
			}
		case ion.StructType:
			n := int(g.byte() % 6)
			for range n {
				if depth > 8 || g.nodes > 300 || len(g.data) == 0 {
					break
				}
				name := g.text()
				v.Fields = append(v.Fields, ionvalue.Field{Name: name, Value: g.value(depth + 1)})
			}
		}
	}
	if flags&0x40 != 0 {
		n := 1 + int(g.byte()%3)
		for range n {
			v.Annotations = append(v.Annotations, g.text())
		}
	}
	if flags == 0xBF && depth > 0 {
		return nil // rarely a nil child
	}
	return v
}

// FuzzHashMatchesReference builds a random ionvalue tree from the fuzz input
// and checks that the fast path agrees with ion-hash-go: on the value itself
// (HashValue against the HashWriter) and on its binary and text encodings
// (HashIon against the HashReader).
func FuzzHashMatchesReference(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x0d\x00\x03abc\x03\x00\x08\x00\x03xyz"))
	f.Add([]byte("\x0b\x40\x02ab\x01\x07\x00\x02cd\x02\x44\x05\x05\x0e\x09\x00"))
	f.Add([]byte("\x06\x00\xff\x07\xd0\x05\x0f\x0c\x1e\x1e\x15\xcd\x5b\x07\x00\x00\x00\x00\x00\x06\x01\x03"))
	f.Add([]byte("\x05\x10\x85\x05\x01\xff\xff\xff\xff\xff\x01\x04\x0c\x01\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &fuzzGen{data: data}
		v := g.value(0)
		checkValue(t, "generated", v)
		if _, err := HashValue(v); err != nil || !knownTypes(v) {
			return
		}
		if bin, err := ionvalue.MarshalBinary(v); err == nil {
			if err := ionvalue.CheckBinaryLengths(bin); err != nil {
				t.Fatalf("checkBinaryLengths rejects a valid encoding %x: %v", bin, err)
			}
			checkIon(t, "generated (binary)", bin)
		}
		checkIon(t, "generated (text)", []byte(ionvalue.MarshalText(v)))
	})
}

// FuzzHashIonMatchesReference checks HashIon against ion-hash-go's
// HashReader on arbitrary bytes: both must fail, or agree.
func FuzzHashIonMatchesReference(f *testing.F) {
	for _, c := range diffTable() {
		if _, err := HashValue(c.v); err != nil || !knownTypes(c.v) {
			continue
		}
		if bin, err := ionvalue.MarshalBinary(c.v); err == nil && len(bin) < 4096 {
			f.Add(bin)
		}
		if txt := ionvalue.MarshalText(c.v); len(txt) < 4096 {
			f.Add([]byte(txt))
		}
	}
	for _, b := range ionInputs(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkIon(t, "fuzz input", data)
	})
}

func TestStatementHashPanicsOnBadParameter(t *testing.T) {
	defer func() {
		r := recover()
		err, ok := r.(error)
		if !ok || !errors.Is(err, ionvalue.ErrSymbolIDText) {
			t.Errorf("recovered %v, want an error wrapping ErrSymbolIDText", r)
		}
	}()
	StatementHash("SELECT ?", []*ionvalue.Value{ionvalue.Struct(field("$1", ionvalue.Int(1)))})
}

func TestStatementHashMatchesReference(t *testing.T) {
	params := []*ionvalue.Value{ionvalue.String("TOYENC486FH"), testenv.Ion(t, `{a:[1,2.5,"\x0b"],b:c::null.int}`), ionvalue.Int(-1)}
	want, err := hashReference(ionvalue.String("SELECT * FROM t WHERE a = ? AND b = ? AND c = ?"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range params {
		ph, err := hashReference(p)
		if err != nil {
			t.Fatal(err)
		}
		want = Dot(want, ph)
	}
	if got := StatementHash("SELECT * FROM t WHERE a = ? AND b = ? AND c = ?", params); !bytes.Equal(got, want) {
		t.Errorf("StatementHash = %x, want %x", got, want)
	}
}

// TestFastHashConcurrent hashes from many goroutines at once, sharing the
// pooled scratch state (run it with -race).
func TestFastHashConcurrent(t *testing.T) {
	var vals []*ionvalue.Value
	var want [][]byte
	for _, c := range diffTable() {
		if h, err := HashValue(c.v); err == nil && len(vals) < 200 {
			vals = append(vals, c.v)
			want = append(want, h)
		}
	}
	done := make(chan error)
	for g := range 8 {
		go func() {
			for i := range vals {
				j := (i + g*25) % len(vals)
				if h, err := HashValue(vals[j]); err != nil || !bytes.Equal(h, want[j]) {
					done <- fmt.Errorf("value %d: %x, %v", j, h, err)
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestSumVariantsMatch checks HashValueSum and DotSum against HashValue and
// Dot.
func TestSumVariantsMatch(t *testing.T) {
	for _, v := range []*ionvalue.Value{ionvalue.String("a"), ionvalue.Int(-7), ionvalue.Struct(ionvalue.Field{Name: "x", Value: ionvalue.Blob([]byte{0x0b})})} {
		got, err := HashValueSum(v)
		if err != nil {
			t.Fatal(err)
		}
		want := Hash(v)
		if !bytes.Equal(got[:], want) {
			t.Fatalf("HashValueSum %x, HashValue %x", got, want)
		}
		other := otherHash(t)
		if d := DotSum(&got, &other); !bytes.Equal(d[:], Dot(want, other[:])) {
			t.Fatalf("DotSum %x, Dot %x", d, Dot(want, other[:]))
		}
	}
	if _, err := HashValueSum(nil); err == nil {
		t.Fatal("HashValueSum(nil) succeeded")
	}
}

func otherHash(t *testing.T) [Size]byte {
	t.Helper()
	var s [Size]byte
	copy(s[:], HashString("other"))
	return s
}
