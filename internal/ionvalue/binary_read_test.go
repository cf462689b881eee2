package ionvalue

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/amzn/ion-go/ion"
)

// randValue builds a random Ion value of every type, with the edge cases
// the fast decoder must either reproduce exactly or refuse.
func randValue(r *rand.Rand, depth int) *Value {
	var v *Value
	kind := r.IntN(16)
	if depth > 3 && kind >= 12 {
		kind = r.IntN(12)
	}
	switch kind {
	case 0:
		types := []ion.Type{ion.NullType, ion.BoolType, ion.IntType, ion.FloatType, ion.DecimalType, ion.TimestampType,
			ion.SymbolType, ion.StringType, ion.ClobType, ion.BlobType, ion.ListType, ion.SexpType, ion.StructType}
		v = TypedNull(types[r.IntN(len(types))])
	case 1:
		v = Bool(r.IntN(2) == 0)
	case 2:
		ints := []int64{0, 1, -1, 127, -128, 1 << 31, math.MaxInt64, math.MinInt64, math.MinInt64 + 1, r.Int64(), -r.Int64()}
		v = Int(ints[r.IntN(len(ints))])
	case 3:
		n, _ := new(big.Int).SetString(fmt.Sprintf("%d%018d", 1+r.IntN(1e9), r.Int64N(1e18)), 10)
		if r.IntN(2) == 0 {
			n.Neg(n)
		}
		v = BigIntValue(n)
	case 4:
		fs := []float64{0, math.Copysign(0, -1), 1.5, -2.25e300, math.Inf(1), math.Inf(-1), r.NormFloat64()}
		v = Float(fs[r.IntN(len(fs))])
	case 5:
		ds := []string{"0", "0.", "-0", "-0.0", "90.25", "1d-10", "-12345678901234567890.5", "1.000", "7d400"}
		v = DecimalValue(ion.MustParseDecimal(ds[r.IntN(len(ds))]))
	case 6:
		v = Timestamp(randTimestamp(r))
	case 7:
		syms := []string{"a", "$ion", "name", "symbols", "sym with space", "ü"}
		v = Symbol(syms[r.IntN(len(syms))])
	case 8:
		strs := []string{"", "x", "VIN-1N4AL11D75C109151", "ünïcödé ✓", string(make([]byte, 20))}
		v = String(strs[r.IntN(len(strs))])
	case 9:
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if r.IntN(2) == 0 {
			v = Blob(b)
		} else {
			v = Clob(b)
		}
	case 10, 12:
		n := r.IntN(4)
		elems := make([]*Value, n)
		for i := range elems {
			elems[i] = randValue(r, depth+1)
		}
		if kind == 10 {
			v = List(elems...)
		} else {
			v = Sexp(elems...)
		}
	default:
		n := r.IntN(5)
		fields := make([]Field, n)
		names := []string{"a", "b", "strandId", "sequenceNo", "data", "a", "name", "$ion_symbol_table"}
		for i := range fields {
			fields[i] = Field{Name: names[r.IntN(len(names))], Value: randValue(r, depth+1)}
		}
		v = Struct(fields...)
	}
	if r.IntN(8) == 0 {
		v.Annotations = []string{"ann", "b"}[:1+r.IntN(2)]
	}
	return v
}

func randTimestamp(r *rand.Rand) ion.Timestamp {
	t := time.Date(1900+r.IntN(200), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e9), time.UTC)
	switch r.IntN(7) {
	case 0:
		return ion.NewDateTimestamp(t, ion.TimestampPrecisionDay)
	case 1:
		return ion.NewDateTimestamp(t, ion.TimestampPrecisionYear)
	case 2:
		return ion.NewTimestamp(t.Truncate(time.Minute), ion.TimestampPrecisionMinute, ion.TimezoneUTC)
	case 3:
		return ion.NewTimestamp(t.Truncate(time.Second), ion.TimestampPrecisionSecond, ion.TimezoneUnspecified)
	case 4:
		return ion.NewTimestampWithFractionalSeconds(t.In(time.FixedZone("x", 90*60)), ion.TimestampPrecisionNanosecond, ion.TimezoneLocal, 9)
	case 5:
		return ion.NewTimestampWithFractionalSeconds(t, ion.TimestampPrecisionNanosecond, ion.TimezoneUTC, uint8(1+r.IntN(9)))
	default:
		return MillisTimestamp(t)
	}
}

// checkSame decodes b both ways; when the fast path accepts b, its value
// must be identical (reflect.DeepEqual) to the reference decoder's.
func checkSame(t *testing.T, b []byte) bool {
	t.Helper()
	fast, ok := decodeBinary(b)
	if !ok {
		return false
	}
	ref, err := decodeOne(b, MaxStoredDepth)
	if err != nil {
		t.Fatalf("fast path accepted input the reference rejects (%v): %x", err, b)
	}
	if !identical(fast, ref) {
		t.Fatalf("fast path differs:\nfast %s\n ref %s\ninput %x", fast, ref, b)
	}
	return true
}

// identical is reflect.DeepEqual, except that floats compare by their bits
// (so that NaN equals itself).
func identical(a, b *Value) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	if math.Float64bits(x.Float) != math.Float64bits(y.Float) || len(x.Elems) != len(y.Elems) || len(x.Fields) != len(y.Fields) {
		return false
	}
	for i := range x.Elems {
		if !identical(x.Elems[i], y.Elems[i]) {
			return false
		}
	}
	for i := range x.Fields {
		if x.Fields[i].Name != y.Fields[i].Name || !identical(x.Fields[i].Value, y.Fields[i].Value) {
			return false
		}
	}
	x.Float, y.Float = 0, 0
	x.Elems, y.Elems, x.Fields, y.Fields = nil, nil, nil, nil
	return reflect.DeepEqual(x, y) && (a.Elems == nil) == (b.Elems == nil) && (a.Fields == nil) == (b.Fields == nil)
}

func TestDecodeBinaryMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	fast := 0
	const n = 5000
	for i := 0; i < n; i++ {
		v := randValue(r, 0)
		b, err := MarshalBinary(v)
		if err != nil {
			t.Fatal(err)
		}
		if checkSame(t, b) {
			fast++
		}
	}
	t.Logf("%d of %d random values took the fast path", fast, n)
	if fast < n/3 {
		t.Errorf("only %d of %d random values took the fast path", fast, n)
	}

	// A reusing Decoder gives the same values, decode after decode, with
	// slabs of every size.
	var dec Decoder
	for i := 0; i < 2000; i++ {
		b, _ := MarshalBinary(randValue(r, 0))
		ref, refErr := decodeOne(b, MaxStoredDepth)
		v, err := dec.Decode(b)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("Decoder error %v, reference %v", err, refErr)
		}
		if !identical(v, ref) {
			t.Fatalf("Decoder differs:\n got %s\nwant %s", v, ref)
		}
		if stored, err := DecodeStored(b); (err == nil) != (refErr == nil) || !identical(stored, ref) {
			t.Fatalf("DecodeStored gives %s (%v), reference %s (%v)", stored, err, ref, refErr)
		}
	}

	// What Strand stores must always take it (that is the point).
	for _, v := range []*Value{
		Struct(
			Field{Name: "txTime", Value: TimeMillis(time.Date(2024, 1, 2, 3, 4, 5, 6e6, time.UTC))},
			Field{Name: "zero", Value: TimeMillis(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))},
			Field{Name: "hash", Value: Blob(make([]byte, 32))},
			Field{Name: "version", Value: Int(3)},
			Field{Name: "empty", Value: List()},
		),
	} {
		b, _ := MarshalBinary(v)
		if !checkSame(t, b) {
			t.Errorf("Strand's own shapes missed the fast path: %s", v)
		}
	}

	// Text, truncated and garbage input never take it.
	for _, b := range [][]byte{[]byte(`{a:1}`), {0xE0, 0x01, 0x00, 0xEA, 0x21}, {0xE0, 0x01, 0x00, 0xEA, 0xF0}, {}} {
		if _, ok := decodeBinary(b); ok {
			t.Errorf("fast path accepted %x", b)
		}
	}
	// A Decoder falls back to the reference and its errors.
	if _, err := new(Decoder).Decode([]byte("{a:")); err == nil {
		t.Error("Decoder accepted broken text")
	}
	if v, err := new(Decoder).Decode([]byte("{a:1}")); err != nil || v.Get("a").Int != 1 {
		t.Errorf("Decoder of text: %v %v", v, err)
	}
}

// FuzzDecodeBinary is the differential test of the binary decoder against
// the ion-go based reader: whatever the binary decoder accepts, the reference
// reads to the identical value, a Decoder fails exactly when the reference
// does, and DecodeOne gives the reference's value or error at MaxDepth.
func FuzzDecodeBinary(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 50; i++ {
		b, _ := MarshalBinary(randValue(r, 0))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkSame(t, b)
		_, refErr := decodeOne(b, MaxStoredDepth)
		if _, err := new(Decoder).Decode(b); (err == nil) != (refErr == nil) {
			t.Fatalf("Decoder error %v, reference %v", err, refErr)
		}
		// DecodeOne, the client path, at MaxDepth: same value, same error.
		got, err := DecodeOne(b)
		want, wantErr := decodeOne(b, MaxDepth)
		if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Fatalf("DecodeOne error %v, reference %v", err, wantErr)
		}
		if err == nil && !identical(got, want) {
			t.Fatalf("DecodeOne = %s, reference %s", got, want)
		}
	})
}

// TestDecodeBinaryDepthLimit: the fast decoder gives up beyond
// MaxStoredDepth (it recursed without bound, overflowing the stack
// on deep input), and the fallback refuses such input with ErrTooDeep.
func TestDecodeBinaryDepthLimit(t *testing.T) {
	nested := func(n int) *Value {
		v := Int(1)
		for i := 0; i < n; i++ {
			v = List(v)
		}
		return v
	}
	ok, err := MarshalBinary(nested(MaxStoredDepth))
	if err != nil {
		t.Fatal(err)
	}
	if v, fast := decodeBinary(ok); !fast || Depth(v, 0) != MaxStoredDepth {
		t.Fatalf("fast path at MaxStoredDepth: ok = %v", fast)
	}
	// One more level: wrap the body of ok in a list header by hand.
	body := ok[4:]
	deep := append([]byte{0xE0, 0x01, 0x00, 0xEA, 0xBE}, varUintBytes(len(body))...)
	deep = append(deep, body...)
	if _, fast := decodeBinary(deep); fast {
		t.Fatal("fast path accepted a value deeper than MaxStoredDepth")
	}
	if _, err := new(Decoder).Decode(deep); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("Decoder: err = %v, want ErrTooDeep", err)
	}
}

// varUintBytes is the Ion VarUInt encoding of n.
func varUintBytes(n int) []byte {
	var out []byte
	for x := n; ; x >>= 7 {
		out = append([]byte{byte(x & 0x7F)}, out...)
		if x < 0x80 {
			break
		}
	}
	out[len(out)-1] |= 0x80
	return out
}

// TestDecodeBinaryInvalidUTF8: text that is not valid UTF-8 (in a string, a
// symbol table entry used as a field name, a symbol or an annotation) never
// takes the binary decoder's path, and a Decoder refuses it as the reference
// reader does.
func TestDecodeBinaryInvalidUTF8(t *testing.T) {
	ivm := string(BinaryVersionMarker[:])
	symtab := "\xe8\x81\x83\xd5\x87\xb3\x82\xc3\x28" // $ion_symbol_table::{symbols:["\xc3("]}
	for name, b := range map[string]string{
		"string":     ivm + "\x82\xc3\x28",
		"field name": ivm + symtab + "\xd2\x8a\x20",
		"symbol":     ivm + symtab + "\x71\x0a",
		"annotation": ivm + symtab + "\xe3\x81\x8a\x20",
	} {
		if _, ok := decodeBinary([]byte(b)); ok {
			t.Errorf("%s: binary decoder accepted invalid UTF-8", name)
		}
		if _, err := new(Decoder).Decode([]byte(b)); err == nil {
			t.Errorf("%s: Decoder accepted invalid UTF-8", name)
		}
	}
	// The same shapes with valid text decode on the binary decoder's path.
	good := ivm + "\xe8\x81\x83\xd5\x87\xb3\x82\x61\x62" + "\xd2\x8a\x20"
	if v, ok := decodeBinary([]byte(good)); !ok || v.Get("ab") == nil {
		t.Errorf("valid field name: %v %v", v, ok)
	}
}

// TestDecodeOneBinaryUsesStrandDecoder: DecodeOne reads binary client input
// with Strand's decoder (a handful of allocations where ion-go's reader
// takes hundreds), gives the values the ion-go based reader gives, and
// keeps MaxDepth: a value at MaxDepth decodes on the fast path, one level
// more is refused with ErrTooDeep.
func TestDecodeOneBinaryUsesStrandDecoder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 2000; i++ {
		b, err := MarshalBinary(randValue(r, 0))
		if err != nil {
			continue
		}
		got, err := DecodeOne(b)
		want, werr := decodeOne(b, MaxDepth)
		if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
			t.Fatalf("DecodeOne(%x): error %v, reference %v", b, err, werr)
		}
		if err == nil && !identical(got, want) {
			t.Fatalf("DecodeOne(%x) = %s, reference %s", b, got, want)
		}
	}
	doc, err := MarshalBinary(Struct(Field{Name: "VIN", Value: String("1N4AL11D75C109151")}, Field{Name: "Year", Value: Int(2019)},
		Field{Name: "Owners", Value: List(Struct(Field{Name: "PersonId", Value: String("294jJ3YUoH1IEEm8GSabOs")}))}))
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(10, func() { _, _ = DecodeOne(doc) }); n > 20 {
		t.Errorf("DecodeOne of a small binary document: %v allocations, want Strand's decoder (at most 20)", n)
	}
	atLimit := nestedBinary(MaxDepth)
	if v, fast := (&binaryDecoder{limit: MaxDepth}).decode(atLimit); !fast || Depth(v, 0) != MaxDepth {
		t.Fatalf("fast path at MaxDepth: ok = %v", fast)
	}
	if _, err := DecodeOne(atLimit); err != nil {
		t.Fatalf("DecodeOne at MaxDepth: %v", err)
	}
	if _, err := DecodeOne(nestedBinary(MaxDepth + 1)); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("DecodeOne one level deeper than MaxDepth: err = %v, want ErrTooDeep", err)
	}
}

// BenchmarkDecodeOne decodes the binary journal block of the vehicle
// registration vector as a client parameter: DecodeOne, and for comparison
// the ion-go based reader it used before.
func BenchmarkDecodeOne(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "vehicle-registration-block100.ion"))
	if err != nil {
		b.Fatal(err)
	}
	vs, err := Decode(raw)
	if err != nil {
		b.Fatal(err)
	}
	bin, err := MarshalBinary(vs[0])
	if err != nil {
		b.Fatal(err)
	}
	for _, dec := range []struct {
		name string
		f    func([]byte) (*Value, error)
	}{{"ionvalue", DecodeOne}, {"ion-go", func(b []byte) (*Value, error) { return decodeOne(b, MaxDepth) }}} {
		b.Run(dec.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := dec.f(bin); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
