package ionvalue

import (
	"errors"
	"testing"
)

// TestCheckBinaryLengthsNested: the structure check reaches inside
// containers. Well-formed binary passes (nested containers, NOP pads in a
// list and as a struct field's value, a sorted struct, annotations on a
// container, a top-level NOP pad cut short); binary whose nested structure
// does not hold together is refused with ErrLength before ion-go reads it.
func TestCheckBinaryLengthsNested(t *testing.T) {
	const ivm = "\xe0\x01\x00\xea"
	valid := map[string]string{
		"list in a struct in a list":        "\xb6\xd5\x84\xb3\x21\x01\x20",
		"NOP pad in a list":                 "\xb4\x01\x00\x21\x07",
		"NOP pad as a struct field's value": "\xd5\x84\x01\x00\x84\x20",
		"sorted struct":                     "\xd1\x83\x84\x21\x01",
		"annotated list":                    "\xe5\x81\x84\xb2\x21\x01",
		"null containers":                   "\xbf\xcf\xdf",
		"top-level NOP pad cut short":       "\x21\x01\x0e\x90\x00",
		"two version markers":               "\x21\x01" + ivm + "\x21\x02",
	}
	for name, body := range valid {
		if err := CheckBinaryLengths([]byte(ivm + body)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	invalid := map[string]string{
		"field name past its struct":                          "\xd3\x20\x30\x30",
		"struct ends after a field name":                      "\xd1\x81\x84",
		"value past its list":                                 "\xb2\x82\x61",
		"length VarUInt past its list":                        "\xb2\x8e\x7f",
		"list with a bad type descriptor inside":              "\xb1\xf0",
		"version marker inside a list":                        "\xb4\xe0\x01\x00\xea",
		"annotation wrapper with two values":                  "\xe4\x81\x84\x20\x20",
		"annotation directly inside annotation":               "\xe6\x81\x84\xe3\x81\x84\x20",
		"annotation past its list":                            "\xe3\x82\x84\x84\x20",
		"empty annotation list":                               "\xe3\x80\x20\x20",
		"symbol table field name past its struct (fuzz find)": "\xee\x93\x81\x83\xd1\x8f\xae00000\x81\x83\xd1000000",
		"top-level length VarUInt of 10 bytes":                "\x2e\x00\x00\x00\x00\x00\x00\x00\x00\x00\x81",
	}
	for name, body := range invalid {
		if err := CheckBinaryLengths([]byte(ivm + body)); !errors.Is(err, ErrLength) {
			t.Errorf("%s: %v, want ErrLength", name, err)
		}
		if _, err := Decode([]byte(ivm + body)); err == nil {
			t.Errorf("%s: Decode accepted it", name)
		}
	}
}

// TestForIonGoSortedStructs: ion-go does not read a sorted struct (0xD1)
// as a struct. ForIonGo re-marks each one (0xDE, the same layout) so that
// ion-go reads the same value as Strand's own decoder, refuses an empty
// one, and leaves input without sorted structs untouched.
func TestForIonGoSortedStructs(t *testing.T) {
	const ivm = "\xe0\x01\x00\xea"
	in := []byte(ivm + "\xb9\xd1\x83\x84\x21\x01\xd1\x82\x85\x20")
	out, err := ForIonGo(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := ivm + "\xb9\xde\x83\x84\x21\x01\xde\x82\x85\x20"; string(out) != want {
		t.Fatalf("ForIonGo = %x, want %x", out, want)
	}
	if in[5] != 0xD1 {
		t.Fatal("ForIonGo changed its input")
	}
	viaIonGo, err := decodeOne(in, MaxDepth)
	if err != nil {
		t.Fatal(err)
	}
	native, ok := decodeBinary(in)
	if !ok || MarshalText(viaIonGo) != MarshalText(native) || MarshalText(native) != "[{name:1},{version:0}]" {
		t.Fatalf("ion-go read %s, Strand's decoder %v (%v)", MarshalText(viaIonGo), native, ok)
	}
	plain := []byte(ivm + "\xd3\x84\x21\x01")
	if out, err := ForIonGo(plain); err != nil || &out[0] != &plain[0] {
		t.Fatalf("input without sorted structs: %x, %v; want it unchanged", out, err)
	}
	if _, err := ForIonGo([]byte(ivm + "\xd1\x80")); !errors.Is(err, ErrLength) {
		t.Fatalf("empty sorted struct: %v, want ErrLength", err)
	}
}

// TestCheckBinaryLengthsBoundsDepth: lists nested 5,000 deep (past every
// reader's limit) are refused with ErrTooDeep by the structure check
// itself, whose stack stays bounded (before, a 1.2 MB input of such
// nesting cost the check 28 MB).
func TestCheckBinaryLengthsBoundsDepth(t *testing.T) {
	b := []byte{0x21, 0x01}
	for range 5000 {
		b = append(AppendVarUint([]byte{0xBE}, uint64(len(b))), b...)
	}
	b = append([]byte{0xE0, 0x01, 0x00, 0xEA}, b...)
	if err := CheckBinaryLengths(b); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("5,000 nested lists: %v, want ErrTooDeep", err)
	}
}
