package verify

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
	pebblestore "github.com/strand-db/strand/internal/store/pebble"
	"github.com/strand-db/strand/internal/verify/verifytest"
)

// randValue builds a random Ion value of every type, with the edge cases
// the fast decoder must either reproduce exactly or refuse.
func randValue(r *rand.Rand, depth int) *ionvalue.Value {
	var v *ionvalue.Value
	kind := r.IntN(16)
	if depth > 3 && kind >= 12 {
		kind = r.IntN(12)
	}
	switch kind {
	case 0:
		types := []ion.Type{ion.NullType, ion.BoolType, ion.IntType, ion.FloatType, ion.DecimalType, ion.TimestampType,
			ion.SymbolType, ion.StringType, ion.ClobType, ion.BlobType, ion.ListType, ion.SexpType, ion.StructType}
		v = ionvalue.TypedNull(types[r.IntN(len(types))])
	case 1:
		v = ionvalue.Bool(r.IntN(2) == 0)
	case 2:
		ints := []int64{0, 1, -1, 127, -128, 1 << 31, math.MaxInt64, math.MinInt64, math.MinInt64 + 1, r.Int64(), -r.Int64()}
		v = ionvalue.Int(ints[r.IntN(len(ints))])
	case 3:
		n, _ := new(big.Int).SetString(fmt.Sprintf("%d%018d", 1+r.IntN(1e9), r.Int64N(1e18)), 10)
		if r.IntN(2) == 0 {
			n.Neg(n)
		}
		v = ionvalue.BigIntValue(n)
	case 4:
		fs := []float64{0, math.Copysign(0, -1), 1.5, -2.25e300, math.Inf(1), math.Inf(-1), r.NormFloat64()}
		v = ionvalue.Float(fs[r.IntN(len(fs))])
	case 5:
		ds := []string{"0", "0.", "-0", "-0.0", "90.25", "1d-10", "-12345678901234567890.5", "1.000", "7d400"}
		v = ionvalue.DecimalValue(ion.MustParseDecimal(ds[r.IntN(len(ds))]))
	case 6:
		v = ionvalue.Timestamp(randTimestamp(r))
	case 7:
		syms := []string{"a", "$ion", "name", "symbols", "sym with space", "ü"}
		v = ionvalue.Symbol(syms[r.IntN(len(syms))])
	case 8:
		strs := []string{"", "x", "VIN-1N4AL11D75C109151", "ünïcödé ✓", string(make([]byte, 20))}
		v = ionvalue.String(strs[r.IntN(len(strs))])
	case 9:
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if r.IntN(2) == 0 {
			v = ionvalue.Blob(b)
		} else {
			v = ionvalue.Clob(b)
		}
	case 10, 12:
		n := r.IntN(4)
		elems := make([]*ionvalue.Value, n)
		for i := range elems {
			elems[i] = randValue(r, depth+1)
		}
		if kind == 10 {
			v = ionvalue.List(elems...)
		} else {
			v = ionvalue.Sexp(elems...)
		}
	default:
		n := r.IntN(5)
		fields := make([]ionvalue.Field, n)
		names := []string{"a", "b", "strandId", "sequenceNo", "data", "a", "name", "$ion_symbol_table"}
		for i := range fields {
			fields[i] = ionvalue.Field{Name: names[r.IntN(len(names))], Value: randValue(r, depth+1)}
		}
		v = ionvalue.Struct(fields...)
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
		return ionvalue.MillisTimestamp(t)
	}
}

// checkSame decodes b both ways; when the fast path accepts b, its value
// must be identical (reflect.DeepEqual) to the reference decoder's.
func checkSame(t *testing.T, b []byte) bool {
	t.Helper()
	fast, ok := fastDecodeOne(b)
	if !ok {
		return false
	}
	ref, err := ionvalue.DecodeOne(b)
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
func identical(a, b *ionvalue.Value) bool {
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

func TestFastDecodeMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	fast := 0
	const n = 5000
	for i := 0; i < n; i++ {
		v := randValue(r, 0)
		b, err := ionvalue.MarshalBinary(v)
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

	// A reusing decoder gives the same values, decode after decode, with
	// slabs of every size.
	for i := 0; i < 2000; i++ {
		b, _ := ionvalue.MarshalBinary(randValue(r, 0))
		ref, refErr := ionvalue.DecodeOne(b)
		err := withDecoded(b, func(v *ionvalue.Value) error {
			if !identical(v, ref) {
				t.Fatalf("withDecoded differs:\n got %s\nwant %s", v, ref)
			}
			return nil
		})
		if (err == nil) != (refErr == nil) {
			t.Fatalf("withDecoded error %v, reference %v", err, refErr)
		}
	}

	// What Strand stores must always take it (that is the point).
	for _, v := range []*ionvalue.Value{
		ionvalue.Struct(
			ionvalue.Field{Name: "txTime", Value: ionvalue.TimeMillis(time.Date(2024, 1, 2, 3, 4, 5, 6e6, time.UTC))},
			ionvalue.Field{Name: "zero", Value: ionvalue.TimeMillis(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))},
			ionvalue.Field{Name: "hash", Value: ionvalue.Blob(make([]byte, 32))},
			ionvalue.Field{Name: "version", Value: ionvalue.Int(3)},
			ionvalue.Field{Name: "empty", Value: ionvalue.List()},
		),
	} {
		b, _ := ionvalue.MarshalBinary(v)
		if !checkSame(t, b) {
			t.Errorf("Strand's own shapes missed the fast path: %s", v)
		}
	}

	// Text, truncated and garbage input never take it.
	for _, b := range [][]byte{[]byte(`{a:1}`), {0xE0, 0x01, 0x00, 0xEA, 0x21}, {0xE0, 0x01, 0x00, 0xEA, 0xF0}, {}} {
		if _, ok := fastDecodeOne(b); ok {
			t.Errorf("fast path accepted %x", b)
		}
	}
	// decodeIon falls back to the reference and its errors.
	if _, err := decodeIon([]byte("{a:")); err == nil {
		t.Error("decodeIon accepted broken text")
	}
	if v, err := decodeIon([]byte("{a:1}")); err != nil || v.Get("a").Int != 1 {
		t.Errorf("decodeIon of text: %v %v", v, err)
	}
}

// FuzzFastDecode checks that whatever the fast path accepts, the reference
// decoder reads to the identical value.
func FuzzFastDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 50; i++ {
		b, _ := ionvalue.MarshalBinary(randValue(r, 0))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkSame(t, b)
	})
}

// TestFastDecodeStoredData checks that every value Strand stores for a
// ledger (blocks, history and latest revisions) takes the fast path and
// decodes identically.
func TestFastDecodeStoredData(t *testing.T) {
	dir := t.TempDir()
	if err := verifytest.Build(dir, "fast", 300, verifytest.Options{Sessions: 4}); err != nil {
		t.Fatal(err)
	}
	st, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	counts := map[byte]int{}
	err = st.Scan([]byte("l/"), []byte("l0"), func(k, v []byte) bool {
		i := bytes.IndexByte(k[2:], '/') + 3
		switch kind := k[i]; kind {
		case 'b', 'h', 'd':
			if !checkSame(t, v) {
				t.Fatalf("stored %c/ value missed the fast path: %x", kind, v)
			}
			counts[kind]++
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if counts['b'] < 300 || counts['h'] < 200 || counts['d'] < 100 {
		t.Errorf("checked %v", counts)
	}
}

// TestFastDecodeDepthLimit: the fast decoder gives up beyond
// ionvalue.MaxStoredDepth (it recursed without bound, overflowing the stack
// on deep input), and the fallback refuses such input with ErrTooDeep.
func TestFastDecodeDepthLimit(t *testing.T) {
	nested := func(n int) *ionvalue.Value {
		v := ionvalue.Int(1)
		for i := 0; i < n; i++ {
			v = ionvalue.List(v)
		}
		return v
	}
	ok, err := ionvalue.MarshalBinary(nested(ionvalue.MaxStoredDepth))
	if err != nil {
		t.Fatal(err)
	}
	if v, fast := fastDecodeOne(ok); !fast || ionvalue.Depth(v, 0) != ionvalue.MaxStoredDepth {
		t.Fatalf("fast path at MaxStoredDepth: ok = %v", fast)
	}
	// One more level: wrap the body of ok in a list header by hand.
	body := ok[4:]
	deep := append([]byte{0xE0, 0x01, 0x00, 0xEA, 0xBE}, varUintBytes(len(body))...)
	deep = append(deep, body...)
	if _, fast := fastDecodeOne(deep); fast {
		t.Fatal("fast path accepted a value deeper than MaxStoredDepth")
	}
	if _, err := decodeIon(deep); !errors.Is(err, ionvalue.ErrTooDeep) {
		t.Fatalf("decodeIon: err = %v, want ErrTooDeep", err)
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
