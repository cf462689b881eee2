package record

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

func encodeValue(t testing.TB, v *ionvalue.Value) []byte {
	t.Helper()
	w := newRecordEncoder()
	if err := w.WriteValue(v); err != nil {
		t.Fatal(err)
	}
	return w.Bytes()
}

func f(name string, v *ionvalue.Value) ionvalue.Field { return ionvalue.Field{Name: name, Value: v} }

func ts(s string) *ionvalue.Value { return ionvalue.Timestamp(ion.MustParseTimestamp(s)) }

func dec(s string) *ionvalue.Value { return ionvalue.DecimalValue(ion.MustParseDecimal(s)) }

// sampleValues covers every Ion type and the length boundaries of the binary
// encoding, without floats and ints beyond int64 (where ion-java and ion-go
// differ on purpose, see TestJavaEncodings).
func sampleValues() []*ionvalue.Value {
	long := func(n int) string { return strings.Repeat("x", n) }
	return []*ionvalue.Value{
		ionvalue.Struct(),
		ionvalue.Struct(f("a", ionvalue.Int(0))),
		ionvalue.Struct(
			f("bool", ionvalue.Bool(true)), f("f", ionvalue.Bool(false)),
			f("ints", ionvalue.List(ionvalue.Int(1), ionvalue.Int(-1), ionvalue.Int(255), ionvalue.Int(256),
				ionvalue.Int(-65536), ionvalue.Int(math.MaxInt64), ionvalue.Int(math.MinInt64))),
			f("decimals", ionvalue.List(dec("0."), dec("-0."), dec("0.00"), dec("-0.00"), dec("90.25"),
				dec("-1.5"), dec("1d100"), dec("128"), dec("-128"), dec("12345678901234567890123456789.5"))),
			f("times", ionvalue.List(ts("2007T"), ts("2007-02T"), ts("1963-08-19T"), ts("2020-07-03T20:36-07:00"),
				ts("2020-07-03T20:36:44Z"), ts("2020-07-03T20:36:44-00:00"), ts("2020-07-03T20:36:44.1+05:30"),
				ts("2020-07-03T20:36:44.181Z"), ts("2020-07-03T20:36:44.000Z"), ts("0001-01-01T00:00:00.123456789Z"))),
			f("strings", ionvalue.List(ionvalue.String(""), ionvalue.String(long(13)), ionvalue.String(long(14)),
				ionvalue.String(long(127)), ionvalue.String(long(128)), ionvalue.String(long(16384)), ionvalue.String("é€𝄞"))),
			f("symbols", ionvalue.Sexp(ionvalue.Symbol("name"), ionvalue.Symbol("a"), ionvalue.Symbol("+"), ionvalue.Symbol("$ion"))),
			f("lobs", ionvalue.List(ionvalue.Blob(nil), ionvalue.Blob([]byte{1, 2, 3}), ionvalue.Clob([]byte("clob text over 13")))),
			f("nulls", ionvalue.List(ionvalue.Null(), ionvalue.TypedNull(ion.IntType), ionvalue.TypedNull(ion.StructType),
				ionvalue.TypedNull(ion.ListType), ionvalue.TypedNull(ion.TimestampType), ionvalue.TypedNull(ion.BlobType))),
			f("annotated", &ionvalue.Value{Type: ion.StructType, Annotations: []string{"x", "version", "y"},
				Fields: []ionvalue.Field{f("version", ionvalue.Int(2)), f("x", &ionvalue.Value{Type: ion.IntType, Int: 3, Annotations: []string{"z"}})}}),
			f("dup", ionvalue.Int(1)), f("dup", ionvalue.Int(2)),
			f("nested", ionvalue.List(ionvalue.List(ionvalue.List()), ionvalue.Struct(f("deep", ionvalue.Struct(f("deeper", ionvalue.String(long(200)))))))),
		),
		ionvalue.List(ionvalue.String(long(20000))),
	}
}

// TestWriterMatchesIonGo checks the hand-written writer against ion-go's
// binary writer (which also matches every captured QLDB record) on all types
// where ion-java and ion-go agree.
func TestWriterMatchesIonGo(t *testing.T) {
	for i, v := range sampleValues() {
		got := encodeValue(t, v)
		want, err := ionvalue.MarshalBinary(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("value %d (%.80s): bytes differ\n got %x\nwant %x", i, v, got, want)
		}
		back, err := ionvalue.DecodeOne(got)
		if err != nil {
			t.Fatalf("value %d: %v", i, err)
		}
		if !ionvalue.Equal(back, v) {
			t.Errorf("value %d: round trip gives %.200s", i, back)
		}
	}
}

// TestJavaEncodings pins the cases where the writer follows ion-java (QLDB's
// writer) rather than ion-go: floats are always binary64 and the magnitude of
// an int beyond int64 is Java's BigInteger.toByteArray.
func TestJavaEncodings(t *testing.T) {
	two63 := new(big.Int).Lsh(big.NewInt(1), 63)
	cases := []struct {
		v    *ionvalue.Value
		want string // value bytes after IVM (no symbols used)
	}{
		{ionvalue.Float(0), "480000000000000000"},
		{ionvalue.Float(1.5), "483ff8000000000000"},
		{ionvalue.Float(math.Copysign(0, -1)), "488000000000000000"},
		{ionvalue.Float(math.Inf(1)), "487ff0000000000000"},
		{ionvalue.BigIntValue(two63), "29008000000000000000"},
		{ionvalue.BigIntValue(new(big.Int).Neg(new(big.Int).Add(two63, big.NewInt(1)))), "39008000000000000001"},
		{ionvalue.BigIntValue(new(big.Int).Lsh(big.NewInt(1), 64)), "2901" + strings.Repeat("00", 8)},
	}
	for _, c := range cases {
		b := encodeValue(t, c.v)
		if got := hex.EncodeToString(b[4:]); got != c.want {
			t.Errorf("%s: got %s, want %s", c.v, got, c.want)
		}
		back, err := ionvalue.DecodeOne(b)
		if err != nil || !ionvalue.Equal(back, c.v) {
			t.Errorf("%s: round trip gives %s (%v)", c.v, back, err)
		}
	}
	nan := encodeValue(t, ionvalue.Float(math.NaN()))
	if nan[4] != 0x48 {
		t.Errorf("nan encoded as %x", nan)
	}
}

// TestRandomValuesRoundTrip writes random documents and reads them back.
func TestRandomValuesRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 300; i++ {
		v := randomValue(rng, 0)
		b := encodeValue(t, v)
		back, err := ionvalue.DecodeOne(b)
		if err != nil {
			t.Fatalf("value %d: %v\n%s", i, err, v)
		}
		if !ionvalue.Equal(back, v) {
			t.Fatalf("value %d: round trip differs\n got %s\nwant %s", i, back, v)
		}
	}
}

func randomValue(rng *rand.Rand, depth int) *ionvalue.Value {
	k := rng.Intn(10)
	if depth > 3 && k >= 7 {
		k = rng.Intn(7)
	}
	var v *ionvalue.Value
	switch k {
	case 0:
		v = ionvalue.Int(rng.Int63() - rng.Int63())
	case 1:
		v = ionvalue.Float(rng.NormFloat64() * 1e6)
	case 2:
		v = ionvalue.DecimalValue(ion.NewDecimal(big.NewInt(rng.Int63n(1e12)-5e11), int32(rng.Intn(20)-10), false))
	case 3:
		t := time.Unix(rng.Int63n(4e9), rng.Int63n(1e9)).In(time.FixedZone("", 60*(rng.Intn(1440)-720)))
		v = ionvalue.Timestamp(ion.NewTimestampWithFractionalSeconds(t, ion.TimestampPrecisionNanosecond, ion.TimezoneLocal, uint8(rng.Intn(10))))
	case 4:
		b := make([]byte, rng.Intn(40))
		rng.Read(b)
		v = ionvalue.Blob(b)
	case 5:
		v = ionvalue.String(strings.Repeat("ab€", rng.Intn(30)))
	case 6:
		v = ionvalue.Symbol([]string{"s1", "name", "sym two", "s1"}[rng.Intn(4)])
	case 7, 8:
		var fs []ionvalue.Field
		for j := rng.Intn(6); j > 0; j-- {
			fs = append(fs, f([]string{"a", "b", "imports", "long field name", ""}[rng.Intn(5)], randomValue(rng, depth+1)))
		}
		v = ionvalue.Struct(fs...)
	default:
		var es []*ionvalue.Value
		for j := rng.Intn(6); j > 0; j-- {
			es = append(es, randomValue(rng, depth+1))
		}
		v = ionvalue.List(es...)
	}
	if rng.Intn(8) == 0 {
		v.Annotations = []string{"ann"}
	}
	return v
}

// TestWriterDepthLimit: the record writer refuses a value nested deeper than
// ionvalue.MaxStoredDepth instead of recursing without bound.
func TestWriterDepthLimit(t *testing.T) {
	nested := func(n int) *ionvalue.Value {
		v := ionvalue.Struct()
		for i := 1; i < n; i++ {
			v = ionvalue.List(v)
		}
		return v
	}
	encodeValue(t, nested(ionvalue.MaxStoredDepth))
	w := newRecordEncoder()
	if err := w.WriteValue(nested(ionvalue.MaxStoredDepth + 1)); !errors.Is(err, ionvalue.ErrTooDeep) {
		t.Fatalf("err = %v, want ErrTooDeep", err)
	}
}
