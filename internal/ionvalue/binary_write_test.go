package ionvalue

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amzn/ion-go/ion"
)

// marshalIonGo is what MarshalBinary was before Strand had its own encoder:
// WriteTo on ion-go's binary writer. The differential tests below hold
// MarshalBinary to it byte for byte, errors included.
func marshalIonGo(v *Value) ([]byte, error) {
	var buf bytes.Buffer
	w := ion.NewBinaryWriter(&buf)
	if err := v.WriteTo(w); err != nil {
		return nil, err
	}
	if err := w.Finish(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// checkEncodesAsIonGo fails when MarshalBinary and ion-go's writer disagree
// on v: different bytes, or an error from one and not the other, or a
// different error message.
func checkEncodesAsIonGo(t *testing.T, v *Value) {
	t.Helper()
	got, err := MarshalBinary(v)
	want, werr := marshalIonGo(v)
	if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
		t.Fatalf("MarshalBinary(%s): error %v, ion-go's writer %v", v, err, werr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("MarshalBinary(%s):\n got %x\nwant %x", v, got, want)
	}
}

// edgeValues are values whose encoding has a special case in ion-go's
// writer: length boundaries (13/14 bytes, 64-byte lobs and big ints,
// 127/128-byte VarUInts), float widths, negative zeros, timestamps of every
// precision and offset, symbol tables beyond one-byte lengths, system
// symbols and text that looks like a symbol id in a symbol value.
func edgeValues() []*Value {
	var vs []*Value
	for _, n := range []int{0, 1, 13, 14, 63, 64, 127, 128, 200, 16383, 16384} {
		s := strings.Repeat("x", n)
		vs = append(vs, String(s), Blob([]byte(s)), Clob([]byte(s)), Symbol(s+"s"), Struct(Field{Name: s, Value: Int(1)}))
		vs = append(vs, List(String(s)), Sexp(Blob([]byte(s))))
	}
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e300, math.SmallestNonzeroFloat64,
		math.MaxFloat32, math.SmallestNonzeroFloat32, math.Inf(1), math.Inf(-1), math.NaN(),
		math.Float64frombits(0x7FF0000000000001), math.Float64frombits(0xFFF8000000000000)} {
		vs = append(vs, Float(f))
	}
	for _, n := range []int64{0, 1, -1, 127, 128, 255, 256, -256, 1 << 62, math.MaxInt64, math.MinInt64} {
		vs = append(vs, Int(n), BigIntValue(big.NewInt(n)))
	}
	for _, bits := range []uint{63, 64, 65, 511, 512, 513, 1000} {
		n := new(big.Int).Lsh(big.NewInt(1), bits)
		vs = append(vs, BigIntValue(n), BigIntValue(new(big.Int).Neg(n)), BigIntValue(new(big.Int).Sub(n, big.NewInt(1))))
	}
	vs = append(vs, &Value{Type: ion.IntType, BigInt: new(big.Int)})
	for _, d := range []string{"0", "0.", "-0", "-0.", "-0.000", "0d5", "-0d-5", "1", "-1", "1.0", "0.5",
		"128", "-128", "1d100", "1d-100", "1d1000", "12345678901234567890123456789012345678901234567890",
		"-9.99999999999999999999999999999999d-9999"} {
		vs = append(vs, DecimalValue(ion.MustParseDecimal(d)))
	}
	base := time.Date(2019, 6, 13, 21, 21, 33, 123456789, time.UTC)
	for _, p := range []ion.TimestampPrecision{ion.TimestampPrecisionYear, ion.TimestampPrecisionMonth, ion.TimestampPrecisionDay} {
		vs = append(vs, Timestamp(ion.NewDateTimestamp(base, p)))
	}
	for _, kind := range []ion.TimezoneKind{ion.TimezoneUnspecified, ion.TimezoneUTC, ion.TimezoneLocal} {
		for _, loc := range []*time.Location{time.UTC, time.FixedZone("e", 5*3600+30*60), time.FixedZone("w", -8*3600), time.FixedZone("far", -23*3600-59*60)} {
			t := base.In(loc)
			vs = append(vs,
				Timestamp(ion.NewTimestamp(t.Truncate(time.Minute), ion.TimestampPrecisionMinute, kind)),
				Timestamp(ion.NewTimestamp(t.Truncate(time.Second), ion.TimestampPrecisionSecond, kind)))
			for digits := uint8(1); digits <= 9; digits++ {
				vs = append(vs, Timestamp(ion.NewTimestampWithFractionalSeconds(t, ion.TimestampPrecisionNanosecond, kind, digits)))
			}
			vs = append(vs, Timestamp(ion.NewTimestampWithFractionalSeconds(t.Truncate(time.Second), ion.TimestampPrecisionNanosecond, kind, 3)))
		}
	}
	vs = append(vs, Timestamp(MillisTimestamp(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC))), Timestamp(MillisTimestamp(time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC))))
	for _, s := range []string{"", "$ion", "$ion_1_0", "$ion_symbol_table", "name", "version", "imports", "symbols", "max_id",
		"$ion_shared_symbol_table", "$0", "$7", "$10", "$99999", "$", "$x", "ü"} {
		vs = append(vs, Symbol(s), Struct(Field{Name: s + "f", Value: Symbol(s)}))
	}
	for _, s := range []string{"", "$ion", "name", "symbols", "$", "$x"} {
		vs = append(vs, Struct(Field{Name: s, Value: Null()}), annotated(Int(1), s))
	}
	var many []Field
	for i := 0; i < 300; i++ {
		many = append(many, Field{Name: strings.Repeat("f", i%20) + string(rune('a'+i%26)) + strings.Repeat("g", i/26), Value: Int(int64(i))})
	}
	vs = append(vs, Struct(many...), Struct(), List(), Sexp(), Struct(Field{Name: "a", Value: Struct()}))
	for _, t := range []ion.Type{ion.NullType, ion.BoolType, ion.IntType, ion.FloatType, ion.DecimalType, ion.TimestampType,
		ion.SymbolType, ion.StringType, ion.ClobType, ion.BlobType, ion.ListType, ion.SexpType, ion.StructType} {
		vs = append(vs, TypedNull(t), annotated(TypedNull(t), "a", "b"), Struct(Field{Name: "n", Value: TypedNull(t)}))
	}
	vs = append(vs, &Value{Type: ion.NoType}, annotated(Null(), "$ion_symbol_table"), annotated(Struct(Field{Name: "symbols", Value: List(String("a"))}), "$ion_symbol_table"))
	vs = append(vs, annotated(String(strings.Repeat("a", 20)), "x", "y", "z"), annotated(List(annotated(Int(1), "i")), strings.Repeat("long", 40)))
	vs = append(vs, nestedValue(MaxDepth), nestedValue(MaxStoredDepth))
	// Values ion-go's writer refuses: the errors must match.
	vs = append(vs, nil, List(nil), Struct(Field{Name: "a", Value: nil}), &Value{Type: ion.DecimalType},
		Struct(Field{Name: "$7", Value: Int(1)}), annotated(Int(1), "$3"), List(Int(1), annotated(Int(2), "$12")),
		nestedValue(MaxStoredDepth+1), Struct(Field{Name: "a", Value: nestedValue(MaxStoredDepth)}), &Value{Type: ion.Type(99)},
		List(Int(1), &Value{Type: ion.Type(99)}))
	return vs
}

// annotated returns v with the annotations anns.
func annotated(v *Value, anns ...string) *Value {
	v.Annotations = anns
	return v
}

func TestMarshalBinaryMatchesIonGoWriter(t *testing.T) {
	for _, v := range edgeValues() {
		checkEncodesAsIonGo(t, v)
	}
	r := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 5000; i++ {
		checkEncodesAsIonGo(t, randValue(r, 0))
	}
	// Real QLDB data: every value of the vector files, read back from
	// their own binary form as a stored value would be.
	files, _ := filepath.Glob(filepath.Join("testdata", "*.ion"))
	if len(files) == 0 {
		t.Fatal("no testdata/*.ion vectors")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		vs, err := Decode(b)
		if err != nil || len(vs) == 0 {
			t.Fatalf("%s: %d values, %v", f, len(vs), err)
		}
		for _, v := range vs {
			checkEncodesAsIonGo(t, v)
			bin, err := MarshalBinary(v)
			if err != nil {
				t.Fatal(err)
			}
			back, err := DecodeStored(bin)
			if err != nil {
				t.Fatal(err)
			}
			checkEncodesAsIonGo(t, back)
		}
	}
}

// TestMarshalBinaryDiffersFromIonGo pins the inputs where MarshalBinary
// deliberately differs from ion-go's writer. A null of an unknown type made
// ion-go panic; it is an error (no decoded or built value has one). A field
// name or annotation "$+5" or "$-5" was written by ion-go as the symbol id
// strconv.Atoi gives ("$+5" read back as "version", and the revision hash,
// computed from the text, no longer matched); it is written as its text.
func TestMarshalBinaryDiffersFromIonGo(t *testing.T) {
	if _, err := MarshalBinary(List(&Value{Type: ion.Type(99), IsNull: true})); err == nil {
		t.Fatal("MarshalBinary accepted a null of an unknown type")
	}
	for _, v := range []*Value{Struct(Field{Name: "$+5", Value: Int(1)}), annotated(Int(1), "$-1")} {
		b, err := MarshalBinary(v)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeStored(b)
		if err != nil || !Equal(back, v) {
			t.Fatalf("MarshalBinary(%s) reads back as %s, %v", v, back, err)
		}
	}
}

// ionGoMistakesForSID reports whether v holds a field name or annotation
// that ion-go's writer takes for a symbol id but isSymbolID does not ($
// followed by a sign and digits; see TestMarshalBinaryDiffersFromIonGo).
func ionGoMistakesForSID(v *Value) bool {
	signed := func(s string) bool {
		_, err := strconv.Atoi(strings.TrimPrefix(s, "$"))
		return strings.HasPrefix(s, "$") && err == nil && !isSymbolID(s)
	}
	if v == nil {
		return false
	}
	for _, a := range v.Annotations {
		if signed(a) {
			return true
		}
	}
	for _, e := range v.Elems {
		if ionGoMistakesForSID(e) {
			return true
		}
	}
	for _, f := range v.Fields {
		if signed(f.Name) || ionGoMistakesForSID(f.Value) {
			return true
		}
	}
	return false
}

// FuzzMarshalBinary decodes arbitrary Ion (binary or text) and holds
// MarshalBinary of every value that decodes to ion-go's writer.
func FuzzMarshalBinary(f *testing.F) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := 0; i < 20; i++ {
		b, _ := MarshalBinary(randValue(r, 0))
		f.Add(b)
	}
	f.Add([]byte(`{a:-0., b:-0e0, c:'$7', d:2020-01-01T00:00:00.000-00:00, e:[1d-3, -0.00], f:nan, g:+inf}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		vs, err := Decode(b)
		if err != nil {
			return
		}
		for _, v := range vs {
			if !ionGoMistakesForSID(v) {
				checkEncodesAsIonGo(t, v)
			}
		}
	})
}

// BenchmarkMarshalBinary encodes the journal block of the vehicle
// registration vector with MarshalBinary and, for comparison, with ion-go's
// writer (what MarshalBinary used before).
func BenchmarkMarshalBinary(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "vehicle-registration-block100.ion"))
	if err != nil {
		b.Fatal(err)
	}
	vs, err := Decode(raw)
	if err != nil {
		b.Fatal(err)
	}
	v := vs[0]
	for _, enc := range []struct {
		name string
		f    func(*Value) ([]byte, error)
	}{{"ionvalue", MarshalBinary}, {"ion-go", marshalIonGo}} {
		b.Run(enc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := enc.f(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestMarshalBinaryUpTo: within its limit it writes MarshalBinary's bytes;
// past it, it stops early with ErrTooLarge. The value here is a list of the
// same 100 KB string 10,000 times: 1 GB encoded, 100 KB in memory.
func TestMarshalBinaryUpTo(t *testing.T) {
	small := Struct(Field{Name: "a", Value: String("x")}, Field{Name: "b", Value: List(Int(1), Symbol("s"))})
	want, err := MarshalBinary(small)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := MarshalBinaryUpTo(small, len(want)); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("at the limit: %x, %v; want %x", got, err, want)
	}
	if _, err := MarshalBinaryUpTo(small, len(want)-1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("one byte over the limit: %v, want ErrTooLarge", err)
	}

	s := String(strings.Repeat("x", 100_000))
	elems := make([]*Value, 10_000)
	for i := range elems {
		elems[i] = s
	}
	shared := List(elems...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = MarshalBinaryUpTo(shared, 128*1024)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("1 GB encoding under a 128 KiB limit: %v, want ErrTooLarge", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Fatalf("stopping at 128 KiB allocated %d bytes", alloc)
	}
}
