package ionvalue

import (
	"errors"
	"testing"
)

// TestDecodeRefusesInvalidUTF8 checks that Ion text whose strings, symbols,
// field names or annotations hold bytes that are not UTF-8 is refused:
// ion-go's text reader lets them through, its binary reader does not, so
// accepting them would store values that can never be read back.
func TestDecodeRefusesInvalidUTF8(t *testing.T) {
	for _, in := range []string{
		"\"\xcc\"",
		"{a:{b:\"x\xcc\"}}",
		"'\xcc'",
		"{'\xcc':1}",
		"'\xcc'::1",
		"[1, \"\xff\xfe\"]",
	} {
		v, err := Decode([]byte(in))
		if !errors.Is(err, ErrInvalidText) {
			t.Errorf("%q: got %v, %v; want ErrInvalidText", in, v, err)
		}
	}
	// Escapes name code points and are valid; so is UTF-8 text.
	for _, in := range []string{"\"\\xcc\"", "\"é漢\"", "'é'::{'ü':\"✓\"}"} {
		vs, err := Decode([]byte(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		b, err := MarshalBinary(vs[0])
		if err != nil {
			t.Fatalf("%q: encode: %v", in, err)
		}
		if _, err := Decode(b); err != nil {
			t.Fatalf("%q: the binary encoding does not decode: %v", in, err)
		}
	}
}
