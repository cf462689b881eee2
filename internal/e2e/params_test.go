package e2e

import (
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv"
)

// ionText is a statement parameter given as Ion text, for values Go types
// cannot express (typed nulls, clobs, symbols, s-expressions, particular
// timestamp precisions). The driver marshals it through ion.Marshaler.
type ionText struct{ v *ionvalue.Value }

func (p ionText) MarshalIon(w ion.Writer) error { return p.v.WriteTo(w) }

func textParam(t testing.TB, text string) ionText { return ionText{testenv.Ion(t, text)} }

// bigInt sends a *big.Int as an Ion int. ion-go marshals a bare *big.Int
// as an empty struct (big.Int has no exported fields), so applications
// must wrap it like this.
type bigInt struct{ *big.Int }

func (b bigInt) MarshalIon(w ion.Writer) error { return w.WriteBigInt(b.Int) }

// TestParameterRoundTrip sends a parameter of every Ion type through the
// driver (INSERT INTO T ? and INSERT INTO T VALUE {'k': ?, 'v': ?}), reads
// it back unchanged (type, precision, offset, field names), and finds it
// again with WHERE v = ?. The server's digest check also proves that it
// hashes every type exactly as the driver does.
func TestParameterRoundTrip(t *testing.T) {
	_, drv := servertest.StartLedger(t, "params", nil)
	servertest.MustQuery(t, drv, "CREATE TABLE Vals")

	big70 := new(big.Int).Lsh(big.NewInt(1), 70)
	negBig := new(big.Int).Neg(new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 80), big.NewInt(1)))
	nanoTS := ion.NewTimestampWithFractionalSeconds(time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC),
		ion.TimestampPrecisionNanosecond, ion.TimezoneUTC, 9)
	milliTS := ion.NewTimestampWithFractionalSeconds(time.Date(2022, 3, 4, 5, 6, 7, 120000000, time.UTC),
		ion.TimestampPrecisionNanosecond, ion.TimezoneUTC, 3)
	type nested struct {
		Name  string         `ion:"name"`
		Sym   string         `ion:"sym,symbol"`
		List  []any          `ion:"list"`
		Inner map[string]any `ion:"inner"`
	}

	cases := []struct {
		name  string
		param any
		typ   ion.Type // the Ion type the driver sends
		null  bool     // NULL = NULL is not true: WHERE v = ? must find nothing
	}{
		{"string", "héllo, 世界 \"q\" 'x' \\ \n", ion.StringType, false},
		{"empty string", "", ion.StringType, false},
		{"int", 42, ion.IntType, false},
		{"negative int", -7, ion.IntType, false},
		{"int64 max", int64(math.MaxInt64), ion.IntType, false},
		{"int64 min", int64(math.MinInt64), ion.IntType, false},
		{"uint64 max", uint64(math.MaxUint64), ion.IntType, false},
		{"big int", bigInt{big70}, ion.IntType, false},
		{"negative big int", bigInt{negBig}, ion.IntType, false},
		{"float", 3.25, ion.FloatType, false},
		{"tiny float", -1.5e-300, ion.FloatType, false},
		{"float32", float32(0.1), ion.FloatType, false},
		{"float inf", math.Inf(1), ion.FloatType, false},
		{"decimal 1.50", ion.MustParseDecimal("1.50"), ion.DecimalType, false},
		{"decimal small negative", ion.MustParseDecimal("-0.000123"), ion.DecimalType, false},
		{"decimal wide", ion.MustParseDecimal("12345678901234567890.123456789"), ion.DecimalType, false},
		{"decimal exponent", ion.MustParseDecimal("7d3"), ion.DecimalType, false},
		{"decimal negative zero", textParam(t, "-0.0"), ion.DecimalType, false},
		{"bool true", true, ion.BoolType, false},
		{"bool false", false, ion.BoolType, false},
		{"null", nil, ion.NullType, true},
		{"null.int", textParam(t, "null.int"), ion.IntType, true},
		{"null.string", textParam(t, "null.string"), ion.StringType, true},
		{"null.decimal", textParam(t, "null.decimal"), ion.DecimalType, true},
		{"null.timestamp", textParam(t, "null.timestamp"), ion.TimestampType, true},
		{"null.struct", textParam(t, "null.struct"), ion.StructType, true},
		{"null.list", textParam(t, "null.list"), ion.ListType, true},
		{"null.blob", textParam(t, "null.blob"), ion.BlobType, true},
		{"null.bool", textParam(t, "null.bool"), ion.BoolType, true},
		{"timestamp nanoseconds", nanoTS, ion.TimestampType, false},
		{"timestamp milliseconds", milliTS, ion.TimestampType, false},
		{"timestamp trailing zeros", textParam(t, "2003-02-03T04:05:06.100Z"), ion.TimestampType, false},
		{"timestamp offset", textParam(t, "2004-02-03T04:05:06.7+05:30"), ion.TimestampType, false},
		{"timestamp unknown offset", textParam(t, "2005-02-03T04:05:06-00:00"), ion.TimestampType, false},
		{"timestamp minute", textParam(t, "2006-02-03T04:05Z"), ion.TimestampType, false},
		{"timestamp day", textParam(t, "2007-02-03"), ion.TimestampType, false},
		{"timestamp month", textParam(t, "2008-02T"), ion.TimestampType, false},
		{"timestamp year", textParam(t, "2009T"), ion.TimestampType, false},
		{"time.Time UTC", time.Date(2010, 1, 2, 3, 4, 5, 987654321, time.UTC), ion.TimestampType, false},
		{"time.Time zone", time.Date(2011, 1, 2, 3, 4, 5, 1000, time.FixedZone("X", -7*3600)), ion.TimestampType, false},
		{"blob", []byte{0, 1, 2, 0x0b, 0x0c, 0x0e, 0xfe, 0xff}, ion.BlobType, false},
		{"empty blob", []byte{}, ion.BlobType, false},
		{"clob", textParam(t, `{{"a\nb\x7f"}}`), ion.ClobType, false},
		{"symbol", textParam(t, "'a symbol'"), ion.SymbolType, false},
		{"sexp", textParam(t, "(a b 1 \"c\")"), ion.SexpType, false},
		{"list", []any{1, "two", 3.5, nil, []any{}, map[string]any{}}, ion.ListType, false},
		{"empty struct", map[string]any{}, ion.StructType, false},
		{"nested struct", nested{Name: "n", Sym: "s", List: []any{ion.MustParseDecimal("2.000"), nanoTS, []byte{9}},
			Inner: map[string]any{"deep": map[string]any{"x": bigInt{big70}, "y": nil}, "t": true}}, ion.StructType, false},
		{"struct from text", textParam(t, `{'odd name': 1, b: [null.int, 2.50], c: {d: 2012-01-01T00:00:00.000000001Z}}`), ion.StructType, false},
	}

	type doc struct {
		K int `ion:"k"`
		V any `ion:"v"`
	}
	for i, c := range cases {
		// Two documents per case: the value inside a struct parameter, and
		// the value as a parameter of its own.
		if _, err := servertest.Query(drv, "INSERT INTO Vals ?", doc{2 * i, c.param}); err != nil {
			t.Fatalf("%s: INSERT INTO Vals ?: %v", c.name, err)
		}
		if _, err := servertest.Query(drv, "INSERT INTO Vals VALUE {'k': ?, 'v': ?}", 2*i+1, c.param); err != nil {
			t.Fatalf("%s: INSERT INTO Vals VALUE {'k': ?, 'v': ?}: %v", c.name, err)
		}
	}
	for i, c := range cases {
		want := testenv.IonOf(t, c.param)
		if want.Type != c.typ {
			t.Errorf("%s: the driver sends %v, a %v; the case expects a %v", c.name, want, want.Type, c.typ)
		}
		got, err := servertest.Query(drv, "SELECT VALUE v FROM Vals WHERE k IN (?, ?)", 2*i, 2*i+1)
		if err != nil {
			t.Errorf("%s: select: %v", c.name, err)
			continue
		}
		if len(got) != 2 || !ionvalue.Equal(got[0], want) || !ionvalue.Equal(got[1], want) {
			t.Errorf("%s: read back %v, sent %v (twice)", c.name, testenv.IonTexts(got), want)
		}
		whole, err := servertest.Query(drv, "SELECT * FROM Vals WHERE k = ?", 2*i)
		if err != nil || len(whole) != 1 || !ionvalue.Equal(whole[0], ionvalue.Struct(
			ionvalue.Field{Name: "k", Value: ionvalue.Int(int64(2 * i))}, ionvalue.Field{Name: "v", Value: want})) {
			t.Errorf("%s: SELECT * gave %v (err %v)", c.name, testenv.IonTexts(whole), err)
		}
		keys, err := servertest.Query(drv, "SELECT VALUE k FROM Vals WHERE v = ?", c.param)
		if err != nil {
			t.Errorf("%s: WHERE v = ?: %v", c.name, err)
			continue
		}
		wantKeys := []string{itoa(2 * i), itoa(2*i + 1)}
		if c.null {
			wantKeys = nil
		}
		testenv.WantValues(t, c.name+": SELECT VALUE k FROM Vals WHERE v = ?", keys, wantKeys...)
	}
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }
