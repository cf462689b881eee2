package ionvalue

import (
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/amzn/ion-go/ion"
)

// nestedText is n nested lists around 1 in Ion text: [[[1]]] for n = 3.
func nestedText(n int) []byte {
	return []byte(strings.Repeat("[", n) + "1" + strings.Repeat("]", n))
}

// nestedBinary is n nested lists around the int 1 as an Ion binary stream,
// built from the inside out without quadratic copying.
func nestedBinary(n int) []byte {
	rev := []byte{0x01, 0x21} // int 1, reversed
	for i := 0; i < n; i++ {
		l := len(rev)
		if l < 14 {
			rev = append(rev, 0xB0|byte(l))
			continue
		}
		var vu []byte // VarUInt of l, most significant group first
		for x := l; ; x >>= 7 {
			vu = append([]byte{byte(x & 0x7F)}, vu...)
			if x < 0x80 {
				break
			}
		}
		vu[len(vu)-1] |= 0x80
		for j := len(vu) - 1; j >= 0; j-- {
			rev = append(rev, vu[j])
		}
		rev = append(rev, 0xBE)
	}
	out := []byte{0xE0, 0x01, 0x00, 0xEA}
	for j := len(rev) - 1; j >= 0; j-- {
		out = append(out, rev[j])
	}
	return out
}

// nestedValue is n nested lists around 1, built directly.
func nestedValue(n int) *Value {
	v := Int(1)
	for i := 0; i < n; i++ {
		v = List(v)
	}
	return v
}

// TestDecodeDepthLimit: a value at MaxDepth decodes, one level more is
// refused with ErrTooDeep, in text and in binary, for every container kind.
func TestDecodeDepthLimit(t *testing.T) {
	cases := []struct {
		name string
		make func(n int) []byte
	}{
		{"text list", nestedText},
		{"binary list", nestedBinary},
		{"text struct", func(n int) []byte {
			return []byte(strings.Repeat("{a:", n) + "1" + strings.Repeat("}", n))
		}},
		{"text sexp with annotations", func(n int) []byte {
			return []byte(strings.Repeat("x::(", n) + "1" + strings.Repeat(")", n))
		}},
		{"text mixed, last level empty", func(n int) []byte {
			return []byte(strings.Repeat("[{b:", n/2) + strings.Repeat("(", n%2) + "[]" + strings.Repeat(")", n%2) + strings.Repeat("}]", n/2))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := MaxDepth
			if strings.Contains(c.name, "empty") {
				n = MaxDepth - 1 // the innermost [] is a level itself
			}
			v, err := DecodeOne(c.make(n))
			if err != nil {
				t.Fatalf("depth %d: %v", MaxDepth, err)
			}
			if d := Depth(v, 0); d != MaxDepth {
				t.Fatalf("Depth = %d, want %d", d, MaxDepth)
			}
			_, err = DecodeOne(c.make(n + 1))
			if !errors.Is(err, ErrTooDeep) {
				t.Fatalf("depth %d: err = %v, want ErrTooDeep", MaxDepth+1, err)
			}
			if len(err.Error()) > 200 {
				t.Fatalf("error message is %d bytes long: %.200s...", len(err.Error()), err)
			}
			// Strand's own envelopes get MaxStoredDepth.
			if _, err := DecodeStored(c.make(n + 1)); err != nil {
				t.Fatalf("DecodeStored at depth %d: %v", MaxDepth+1, err)
			}
		})
	}
}

// TestDecodeDepthLimitStored: DecodeStored stops at MaxStoredDepth.
func TestDecodeDepthLimitStored(t *testing.T) {
	if _, err := DecodeStored(nestedBinary(MaxStoredDepth)); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeStored(nestedBinary(MaxStoredDepth + 1)); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("err = %v, want ErrTooDeep", err)
	}
}

// TestDecodeHugeDepthUnderSmallStack decodes inputs as deep as the ones that
// killed the server (millions of levels) with the goroutine stack capped at
// 4 MB: before the limit the recursive reader overflowed the stack, a fatal
// error that no recover catches; now it stops at MaxDepth.
func TestDecodeHugeDepthUnderSmallStack(t *testing.T) {
	old := debug.SetMaxStack(4 << 20)
	defer debug.SetMaxStack(old)
	for name, b := range map[string][]byte{
		"text":   nestedText(200_000),
		"binary": nestedBinary(200_000),
	} {
		if _, err := Decode(b); !errors.Is(err, ErrTooDeep) {
			t.Errorf("%s: err = %v, want ErrTooDeep", name, err)
		}
		if _, err := DecodeStored(b); !errors.Is(err, ErrTooDeep) {
			t.Errorf("%s stored: err = %v, want ErrTooDeep", name, err)
		}
	}
}

// TestEncodeDepthLimit: values built without the decoder are bounded too.
func TestEncodeDepthLimit(t *testing.T) {
	ok, deep := nestedValue(MaxStoredDepth), nestedValue(MaxStoredDepth+1)
	if _, err := MarshalBinary(ok); err != nil {
		t.Fatalf("MarshalBinary at MaxStoredDepth: %v", err)
	}
	if _, err := MarshalBinary(deep); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("MarshalBinary beyond MaxStoredDepth: err = %v, want ErrTooDeep", err)
	}
	if s := MarshalText(deep); !strings.Contains(s, tooDeepText) {
		t.Fatalf("MarshalText beyond MaxStoredDepth does not mark the cut")
	}
	if !Equal(ok, nestedValue(MaxStoredDepth)) {
		t.Fatal("Equal at MaxStoredDepth is false")
	}
	if Equal(deep, nestedValue(MaxStoredDepth+1)) {
		t.Fatal("Equal beyond MaxStoredDepth is true")
	}
	if err := CheckDepth(nestedValue(MaxDepth)); err != nil {
		t.Fatal(err)
	}
	if err := CheckDepth(nestedValue(MaxDepth + 1)); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("CheckDepth: err = %v, want ErrTooDeep", err)
	}
	st := Struct(Field{Name: "a", Value: List(Int(1), Struct())}, Field{Name: "b", Value: Null()})
	if d := Depth(st, 0); d != 3 {
		t.Fatalf("Depth = %d, want 3", d)
	}
	if d := Depth(TypedNull(ion.ListType), 0); d != 0 {
		t.Fatalf("Depth(null.list) = %d, want 0", d)
	}
}

// FuzzDecode checks that decoding arbitrary bytes (Ion text or binary) never
// panics or overflows the stack, that what decodes respects MaxDepth, and
// that the encoders and Equal accept every decoded value without panicking.
// (Exact round trips are not asserted: ion-go accepts some input, such as
// symbol-table text that is not UTF-8, that it then refuses to read back.)
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		``, `null`, `null.struct`, `1`, `-0.00`, `1.5e3`, `2007-02-23T12:14:33.079-08:00`, `"a\nb"`,
		`'sym'`, `$7`, `{{aGk=}}`, `{{"clob"}}`, `a::b::{x:[1,(a b),{y:null.int}],x:2}`,
		`[1, 2] {a:1} (+ 1 2)`, `123456789012345678901234567890`, `{'$12':1}`,
		string(nestedText(MaxDepth)), string(nestedText(MaxDepth + 1)),
		string(nestedBinary(3)), string(nestedBinary(MaxDepth + 1)),
	} {
		f.Add([]byte(s))
	}
	if b, err := MarshalBinary(Struct(Field{Name: "Name", Value: String("x")}, Field{Name: "l", Value: List(Int(1), Float(2))})); err == nil {
		f.Add(b)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.ion"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		vs, err := Decode(b)
		if err != nil {
			return
		}
		for i, v := range vs {
			if d := Depth(v, 0); d > MaxDepth {
				t.Fatalf("value %d decoded with depth %d > MaxDepth", i, d)
			}
			if bin, err := MarshalBinary(v); err == nil {
				_, _ = Decode(bin)
			}
			_, _ = Decode([]byte(MarshalText(v)))
			if !Equal(v, v) {
				t.Fatalf("value %d is not Equal to itself: %s", i, v)
			}
		}
	})
}
