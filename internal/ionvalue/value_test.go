package ionvalue

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/amzn/ion-go/ion"
)

// roundTripCases are Ion text inputs with the compact text MarshalText must
// give for them ("" means: the same as the input).
var roundTripCases = []struct {
	name, in, text string
}{
	{"null", "null", ""},
	{"null.null", "null.null", "null"},
	{"null.bool", "null.bool", ""},
	{"null.int", "null.int", ""},
	{"null.float", "null.float", ""},
	{"null.decimal", "null.decimal", ""},
	{"null.timestamp", "null.timestamp", ""},
	{"null.symbol", "null.symbol", ""},
	{"null.string", "null.string", ""},
	{"null.clob", "null.clob", ""},
	{"null.blob", "null.blob", ""},
	{"null.list", "null.list", ""},
	{"null.sexp", "null.sexp", ""},
	{"null.struct", "null.struct", ""},
	{"annotated typed null", "a::null.int", ""},
	{"true", "true", ""},
	{"false", "false", ""},
	{"int zero", "0", ""},
	{"int negative", "-1", ""},
	{"int max int64", "9223372036854775807", ""},
	{"int min int64", "-9223372036854775808", ""},
	{"big int 2^64", "18446744073709551616", ""},
	{"big int negative", "-1234567890123456789012345678901234567890", ""},
	{"hex int", "0xff", "255"},
	{"float zero", "0e0", ""},
	{"float negative zero", "-0e0", ""},
	{"float", "1.5e0", ""},
	{"float float32-exact", "90.25e0", "9.025e1"},
	{"float not float32", "0.1e0", "1e-1"},
	{"float big", "1.5e300", ""},
	{"float tiny", "5e-324", ""},
	{"float nan", "nan", ""},
	{"float +inf", "+inf", ""},
	{"float -inf", "-inf", ""},
	{"decimal", "90.25", ""},
	{"decimal integer", "1.", ""},
	{"decimal zero", "0.", ""},
	{"decimal zero 2 digits", "0.00", ""},
	{"decimal negative zero", "-0.", ""},
	{"decimal negative zero fraction", "-0.00", ""},
	{"decimal trailing zeros", "1.00", ""},
	{"decimal small", "0.005", ""},
	{"decimal negative small", "-0.005", ""},
	{"decimal positive exponent", "5d3", ""},
	{"decimal tiny", "12d-40", ""},
	{"decimal big coefficient", "123456789012345678901234567890.123456789", ""},
	{"timestamp year", "2007T", ""},
	{"timestamp month", "2007-02T", ""},
	{"timestamp day", "2007-02-23", ""},
	{"timestamp day with T", "2007-02-23T", "2007-02-23"},
	{"timestamp minute UTC", "2007-02-23T12:14Z", ""},
	{"timestamp minute unknown offset", "2007-02-23T12:14-00:00", ""},
	{"timestamp second", "2007-02-23T12:14:33Z", ""},
	{"timestamp second +00:00", "2007-02-23T12:14:33+00:00", "2007-02-23T12:14:33Z"},
	{"timestamp millis", "2019-09-16T19:37:05.344Z", ""},
	{"timestamp millis zeros", "2019-09-16T19:37:05.000Z", ""},
	{"timestamp millis local", "2007-02-23T12:14:33.079-08:00", ""},
	{"timestamp half-hour offset", "2007-02-23T12:14:33.5+05:30", ""},
	{"timestamp nanos", "2007-02-23T12:14:33.123456789Z", ""},
	{"timestamp nanos zero", "2007-02-23T12:14:33.000000000Z", ""},
	{"timestamp nanos tiny", "2007-02-23T12:14:33.000000001Z", ""},
	{"timestamp micros", "2001-01-01T00:00:00.000001+01:00", ""},
	{"symbol", "abc", ""},
	{"symbol quoted", "'hello world'", ""},
	{"symbol keyword", "'null'", ""},
	{"symbol dollar text", "'$5'", ""},
	{"symbol operator in sexp", "(a + b)", "(a '+' b)"},
	{"string empty", `""`, ""},
	{"string escapes", `"a\"b\\c\nd\te\x01"`, ""},
	{"string unicode", `"ünïcødé 🎉"`, ""},
	{"clob", `{{"ab\x00c"}}`, ""},
	{"clob high bytes", `{{"\xff\x7f"}}`, ""},
	{"blob", "{{AQID}}", ""},
	{"blob empty", "{{}}", ""},
	{"list empty", "[]", ""},
	{"list nested", "[1,[2,[3,[]]],\"x\"]", ""},
	{"sexp empty", "()", ""},
	{"sexp", "(a 1 \"s\" (b))", ""},
	{"struct empty", "{}", ""},
	{"struct order kept", "{b:1,a:2,c:3}", ""},
	{"struct duplicate names", "{a:1,a:2,a:1}", ""},
	{"struct quoted names", "{'a b':1,'null':2,'1x':3,'$x':4}", "{'a b':1,'null':2,'1x':3,$x:4}"},
	{"annotations", "a::b::1", ""},
	{"annotations quoted", "'x y'::{}", ""},
	{"annotations nested", "{a:x::[y::z::(w::1)]}", ""},
	{"deep", "{a:{b:{c:{d:[{e:[1,2,{f:null.struct}]}]}}}}", ""},
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range roundTripCases {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.text
			if want == "" {
				want = tc.in
			}
			v, err := DecodeOne([]byte(tc.in))
			if err != nil {
				t.Fatalf("DecodeOne(%s): %v", tc.in, err)
			}
			if got := MarshalText(v); got != want {
				t.Errorf("MarshalText = %s, want %s", got, want)
			}

			bin, err := MarshalBinary(v)
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			if !bytes.HasPrefix(bin, []byte{0xE0, 0x01, 0x00, 0xEA}) {
				t.Fatalf("MarshalBinary lacks the IVM: %x", bin)
			}
			fromBin, err := DecodeOne(bin)
			if err != nil {
				t.Fatalf("DecodeOne(binary %x): %v", bin, err)
			}
			if !Equal(v, fromBin) {
				t.Errorf("binary round trip: got %s, want %s", fromBin, v)
			}
			// binary -> Value -> binary is byte-stable.
			bin2, err := MarshalBinary(fromBin)
			if err != nil {
				t.Fatalf("MarshalBinary again: %v", err)
			}
			if !bytes.Equal(bin, bin2) {
				t.Errorf("binary not stable: %x then %x", bin, bin2)
			}

			fromText, err := DecodeOne([]byte(MarshalText(v)))
			if err != nil {
				t.Fatalf("DecodeOne(MarshalText): %v", err)
			}
			if !Equal(v, fromText) {
				t.Errorf("text round trip: got %s, want %s", fromText, v)
			}

			// ion-go's own text writer must agree with our data model too.
			var buf bytes.Buffer
			w := ion.NewTextWriter(&buf)
			if err := v.WriteTo(w); err != nil {
				t.Fatalf("WriteTo(text writer): %v", err)
			}
			if err := w.Finish(); err != nil {
				t.Fatalf("Finish: %v", err)
			}
			fromIonText, err := DecodeOne(buf.Bytes())
			if err != nil {
				t.Fatalf("DecodeOne(ion-go text %q): %v", buf.String(), err)
			}
			if !Equal(v, fromIonText) {
				t.Errorf("ion-go text writer round trip: got %s from %q, want %s", fromIonText, buf.String(), v)
			}
		})
	}
}

func TestRoundTripConstructed(t *testing.T) {
	nanos := ion.NewTimestampWithFractionalSeconds(
		time.Date(2021, 5, 25, 13, 41, 31, 123456789, time.UTC), ion.TimestampPrecisionNanosecond, ion.TimezoneUTC, 9)
	big1, _ := new(big.Int).SetString("-340282366920938463463374607431768211457", 10)
	cases := []struct {
		name string
		v    *Value
		text string
	}{
		{"string", String("abc"), `"abc"`},
		{"symbol", Symbol("abc"), "abc"},
		{"int", Int(-42), "-42"},
		{"big int", BigIntValue(big1), big1.String()},
		{"big int that fits", BigIntValue(big.NewInt(7)), "7"},
		{"float", Float(2.5), "2.5e0"},
		{"decimal", DecimalValue(ion.MustParseDecimal("-0.00")), "-0.00"},
		{"bool", Bool(true), "true"},
		{"timestamp nanos", Timestamp(nanos), "2021-05-25T13:41:31.123456789Z"},
		{"time millis", TimeMillis(time.Date(2019, 9, 16, 21, 37, 5, 344999999, time.FixedZone("CEST", 7200))), "2019-09-16T19:37:05.344Z"},
		{"time millis zero", TimeMillis(time.Date(2019, 9, 16, 19, 37, 5, 0, time.UTC)), "2019-09-16T19:37:05.000Z"},
		{"blob", Blob([]byte{1, 2, 3}), "{{AQID}}"},
		{"blob nil", Blob(nil), "{{}}"},
		{"clob", Clob([]byte("hi")), `{{"hi"}}`},
		{"list", List(Int(1), String("x")), `[1,"x"]`},
		{"sexp", Sexp(Symbol("f"), Int(1)), "(f 1)"},
		{"struct", Struct(Field{"b", Int(1)}, Field{"a", Null()}), "{b:1,a:null}"},
		{"null", Null(), "null"},
		{"typed null", TypedNull(ion.StructType), "null.struct"},
		{"typed null NoType", TypedNull(ion.NoType), "null"},
		{"annotated", &Value{Type: ion.IntType, Int: 1, Annotations: []string{"a", "b c"}}, "a::'b c'::1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.v.String(); got != tc.text {
				t.Errorf("String() = %s, want %s", got, tc.text)
			}
			bin, err := MarshalBinary(tc.v)
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			back, err := DecodeOne(bin)
			if err != nil {
				t.Fatalf("DecodeOne: %v", err)
			}
			if !Equal(tc.v, back) {
				t.Errorf("binary round trip: got %s, want %s", back, tc.v)
			}
		})
	}
}

func TestMarshalBinaryMatchesIonGo(t *testing.T) {
	// ion.MarshalBinary("abc") = e00100ea83616263 (reference §1.2).
	cases := []struct {
		v    *Value
		want string
	}{
		{String("abc"), "e00100ea83616263"},
		{Int(5), "e00100ea2105"},
		{Null(), "e00100ea0f"},
		{TypedNull(ion.IntType), "e00100ea2f"},
	}
	lib, err := ion.MarshalBinary(nil)
	if err != nil || hex.EncodeToString(lib) != "e00100ea0f" {
		t.Fatalf("ion.MarshalBinary(nil) = %x, %v", lib, err)
	}
	for _, tc := range cases {
		got, err := MarshalBinary(tc.v)
		if err != nil {
			t.Fatalf("MarshalBinary(%s): %v", tc.v, err)
		}
		if hex.EncodeToString(got) != tc.want {
			t.Errorf("MarshalBinary(%s) = %x, want %s", tc.v, got, tc.want)
		}
		if tc.v.IsNull && tc.v.Type != ion.NullType {
			continue // ion-go's Marshal has no typed nulls
		}
		lib, err := ion.MarshalBinary(ionGoNative(tc.v))
		if err != nil {
			t.Fatalf("ion.MarshalBinary: %v", err)
		}
		if !bytes.Equal(got, lib) {
			t.Errorf("MarshalBinary(%s) = %x, ion-go gives %x", tc.v, got, lib)
		}
	}
}

// ionGoNative maps the few values of TestMarshalBinaryMatchesIonGo to what
// ion.MarshalBinary takes.
func ionGoNative(v *Value) any {
	switch {
	case v.Type == ion.StringType:
		return v.Text
	case v.Type == ion.IntType:
		return v.Int
	}
	return nil
}

func TestTimestampPrecisionKept(t *testing.T) {
	for _, in := range []string{
		"2007-02-23T12:14:33.1Z",
		"2007-02-23T12:14:33.10Z",
		"2007-02-23T12:14:33.100Z",
		"2007-02-23T12:14:33.100000000Z",
		"2007-02-23T12:14:33.999999999-07:00",
	} {
		v, err := DecodeOne([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		bin, err := MarshalBinary(v)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeOne(bin)
		if err != nil {
			t.Fatal(err)
		}
		wantDigits := len(in[strings.IndexByte(in, '.')+1:]) - len(strings.TrimLeft(in[strings.IndexByte(in, '.')+1:], "0123456789"))
		if got := int(back.Time.GetNumberOfFractionalSeconds()); got != wantDigits {
			t.Errorf("%s: %d fractional digits after binary round trip, want %d", in, got, wantDigits)
		}
		if got := MarshalText(back); got != in {
			t.Errorf("%s: text after binary round trip %s", in, got)
		}
	}
}

func TestEqual(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{"1", "1", true},
		{"1", "2", false},
		{"1", "1e0", false},
		{"1", "1.", false},
		{"1.0", "1.00", false},
		{"1.0", "1.0", true},
		{"0.", "-0.", false},
		{"-0.", "-0.", true},
		{"0e0", "-0e0", false},
		{"nan", "nan", true},
		{"nan", "1e0", false},
		{"null", "null.null", true},
		{"null", "null.int", false},
		{"null.int", "null.int", true},
		{"null.int", "0", false},
		{"null.struct", "{}", false},
		{"a::1", "1", false},
		{"a::b::1", "b::a::1", false},
		{"a::b::1", "a::b::1", true},
		{"abc", `"abc"`, false},
		{"{{AQID}}", `{{"\x01\x02\x03"}}`, false},
		{"[1,2]", "[2,1]", false},
		{"[1,2]", "(1 2)", false},
		{"{a:1,b:2}", "{b:2,a:1}", true},
		{"{a:1,a:2}", "{a:2,a:1}", true},
		{"{a:1,a:1}", "{a:1,a:2}", false},
		{"{a:1}", "{a:1,a:1}", false},
		{"{a:{x:1,y:2}}", "{a:{y:2,x:1}}", true},
		{"2007-02-23T12:14:33Z", "2007-02-23T12:14:33Z", true},
		{"2007-02-23T12:14:33Z", "2007-02-23T12:14:33.0Z", false},
		{"2007-02-23T12:14:33Z", "2007-02-23T04:14:33-08:00", false},
		{"2007-02-23T12:14Z", "2007-02-23T12:14-00:00", false},
		{"2007-02-23", "2007-02-23T", true},
		{"2007-02-23", "2007-02-23T00:00Z", false},
		{"18446744073709551616", "18446744073709551616", true},
		{"18446744073709551616", "18446744073709551617", false},
	}
	for _, tc := range cases {
		a, err := DecodeOne([]byte(tc.a))
		if err != nil {
			t.Fatalf("%s: %v", tc.a, err)
		}
		b, err := DecodeOne([]byte(tc.b))
		if err != nil {
			t.Fatalf("%s: %v", tc.b, err)
		}
		if got := Equal(a, b); got != tc.want {
			t.Errorf("Equal(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := Equal(b, a); got != tc.want {
			t.Errorf("Equal(%s, %s) = %v, want %v", tc.b, tc.a, got, tc.want)
		}
	}
	if !Equal(nil, nil) || Equal(nil, Null()) || Equal(Null(), nil) {
		t.Error("nil handling of Equal is wrong")
	}
	// An int stored as BigInt equals the same int stored in Int.
	if !Equal(Int(7), &Value{Type: ion.IntType, BigInt: big.NewInt(7)}) {
		t.Error("Int(7) != BigInt 7")
	}
	if !Equal(Float(math.NaN()), Float(-math.NaN())) {
		t.Error("nan payloads should not matter")
	}
}

func TestStructHelpers(t *testing.T) {
	orig := &Value{Type: ion.StructType, Annotations: []string{"ann"}, Fields: []Field{
		{"a", Int(1)}, {"b", Int(2)}, {"a", Int(3)},
	}}
	before := MarshalText(orig)

	if got := orig.Get("a"); !Equal(got, Int(1)) {
		t.Errorf("Get(a) = %s, want first match 1", got)
	}
	if got := orig.Get("zz"); got != nil {
		t.Errorf("Get(zz) = %s, want nil", got)
	}
	if got := Int(1).Get("a"); got != nil {
		t.Errorf("Get on an int = %s, want nil", got)
	}

	cases := []struct {
		name string
		got  *Value
		want string
	}{
		{"With replaces first and drops duplicates", orig.With("a", String("x")), `ann::{a:"x",b:2}`},
		{"With appends", orig.With("c", Int(9)), "ann::{a:1,b:2,a:3,c:9}"},
		{"Without removes all", orig.Without("a"), "ann::{b:2}"},
		{"Without missing", orig.Without("zz"), "ann::{a:1,b:2,a:3}"},
		{"With on null struct", TypedNull(ion.StructType).With("a", Int(1)), "{a:1}"},
		{"Without on null struct", TypedNull(ion.StructType).Without("a"), "null.struct"},
	}
	for _, tc := range cases {
		if got := MarshalText(tc.got); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
	if after := MarshalText(orig); after != before {
		t.Errorf("With/Without mutated the receiver: %s became %s", before, after)
	}

	defer func() {
		if recover() == nil {
			t.Error("With on a non-struct did not panic")
		}
	}()
	Int(1).With("a", Int(1))
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct {
		name, in string
	}{
		{"two values", "1 2"},
		{"no value", "  "},
		{"unterminated struct", "{a:1"},
		{"bad token", "{a:}"},
		{"truncated binary", "\xe0\x01\x00\xea\x8f\x61"},
	}
	for _, tc := range cases {
		if _, err := DecodeOne([]byte(tc.in)); err == nil {
			t.Errorf("%s: DecodeOne(%q) succeeded", tc.name, tc.in)
		} else if !strings.HasPrefix(err.Error(), "ionvalue: ") {
			t.Errorf("%s: error %q lacks the package prefix", tc.name, err)
		}
	}
	vs, err := Decode([]byte("1 a::2 {x:3}"))
	if err != nil || len(vs) != 3 {
		t.Fatalf("Decode of 3 values: %d values, %v", len(vs), err)
	}
}

func TestWriteErrors(t *testing.T) {
	cases := []struct {
		name string
		v    *Value
	}{
		{"nil", nil},
		{"nil list element", List(Int(1), nil)},
		{"nil field value", Struct(Field{"a", nil})},
		{"decimal without Decimal", &Value{Type: ion.DecimalType}},
	}
	for _, tc := range cases {
		_, err := MarshalBinary(tc.v)
		if err == nil {
			t.Errorf("%s: MarshalBinary succeeded", tc.name)
		} else if !strings.HasPrefix(err.Error(), "ionvalue: ") {
			t.Errorf("%s: error %q lacks the package prefix", tc.name, err)
		}
	}
}

func TestReadIntoNestedReader(t *testing.T) {
	// Read works on a value inside a container and leaves the reader usable.
	r := ion.NewReaderString("[a::1, {b:[2]}, 3] 4")
	if !r.Next() {
		t.Fatal("no value")
	}
	if err := r.StepIn(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for r.Next() {
		v, err := Read(r)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, MarshalText(v))
	}
	if err := r.StepOut(); err != nil {
		t.Fatal(err)
	}
	if !r.Next() {
		t.Fatal("lost the value after the list")
	}
	v, err := Read(r)
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, MarshalText(v))
	if want := "a::1 {b:[2]} 3 4"; strings.Join(got, " ") != want {
		t.Errorf("got %s, want %s", strings.Join(got, " "), want)
	}
	if _, err := Read(ion.NewReaderString("1")); err == nil {
		t.Error("Read before Next succeeded")
	}
}

func TestDecodeVectors(t *testing.T) {
	cases := []struct {
		file        string
		annotations []string
	}{
		{"testdata/vehicle-registration-block100.ion", []string{"block", "block_proof", "revision_proof", "digest"}},
		{"testdata/person-block3-stream.ion", []string{"", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			src, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			vs, err := Decode(src)
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) != len(tc.annotations) {
				t.Fatalf("%d values, want %d", len(vs), len(tc.annotations))
			}
			// Every non-comment line is one value; values whose source is
			// already in compact form must print back byte for byte.
			var lines []string
			for _, l := range strings.Split(string(src), "\n") {
				if l != "" && !strings.HasPrefix(l, "//") {
					lines = append(lines, l)
				}
			}
			for i, v := range vs {
				ann := ""
				if len(v.Annotations) > 0 {
					ann = v.Annotations[0]
				}
				if ann != tc.annotations[i] {
					t.Errorf("value %d annotated %q, want %q", i, ann, tc.annotations[i])
				}
				bin, err := MarshalBinary(v)
				if err != nil {
					t.Fatal(err)
				}
				back, err := DecodeOne(bin)
				if err != nil {
					t.Fatal(err)
				}
				if !Equal(v, back) {
					t.Errorf("value %d changed through binary", i)
				}
				// The stream fixture writes dates as 1963-08-19T; we write 1963-08-19.
				want := strings.ReplaceAll(lines[i], "DOB:1963-08-19T,", "DOB:1963-08-19,")
				if got := MarshalText(v); got != want {
					t.Errorf("value %d text:\n got %s\nwant %s", i, got, want)
				}
			}
			if tc.annotations[0] == "block" {
				data := vs[0].Get("revisions").Elems[0].Get("data")
				if got := MarshalText(data.Get("PendingPenaltyTicketAmount")); got != "90.25" {
					t.Errorf("decimal read as %s", got)
				}
				if p := data.Get("ValidFromDate").Time.GetPrecision(); p != ion.TimestampPrecisionDay {
					t.Errorf("ValidFromDate precision %v", p)
				}
			}
		})
	}
}

func TestSymbolIDLikeNames(t *testing.T) {
	// Read with a quoted '$7' field name, it is text "$7". ion-go's binary
	// writer would turn it into symbol id 7, so WriteTo refuses it.
	for _, in := range []string{"{'$7':1}", "'$7'::1", "[{a:'$12'::2}]"} {
		v, err := DecodeOne([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if got := MarshalText(v); got != in {
			t.Errorf("MarshalText = %s, want %s", got, in)
		}
		if _, err := MarshalBinary(v); !errors.Is(err, ErrSymbolIDText) {
			t.Errorf("MarshalBinary(%s) error = %v, want ErrSymbolIDText", in, err)
		}
	}
	// A symbol value with that text is fine.
	v := Symbol("$7")
	bin, err := MarshalBinary(v)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeOne(bin)
	if err != nil || !Equal(v, back) {
		t.Errorf("symbol '$7' round trip: %s, %v", back, err)
	}
}
