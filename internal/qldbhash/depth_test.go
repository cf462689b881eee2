package qldbhash

import (
	"bytes"
	"errors"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/ionvalue"
)

// TestHashIonRefusesDeepInput: HashIon refuses input nested deeper than
// ionvalue.MaxDepth instead of handing it to ion-hash-go's recursive reader,
// which overflowed the (here 4 MB) stack: a fatal error, not a panic.
func TestHashIonRefusesDeepInput(t *testing.T) {
	old := debug.SetMaxStack(4 << 20)
	defer debug.SetMaxStack(old)
	deep := []byte(strings.Repeat("[", 200_000) + strings.Repeat("]", 200_000))
	if _, err := HashIon(deep); !errors.Is(err, ionvalue.ErrTooDeep) {
		t.Fatalf("HashIon: err = %v, want ErrTooDeep", err)
	}
	if _, _, err := HashIonValue(deep); !errors.Is(err, ionvalue.ErrTooDeep) {
		t.Fatalf("HashIonValue: err = %v, want ErrTooDeep", err)
	}
	atLimit := []byte(strings.Repeat("[", ionvalue.MaxDepth) + strings.Repeat("]", ionvalue.MaxDepth))
	if _, err := HashIon(atLimit); err != nil {
		t.Fatalf("HashIon at MaxDepth: %v", err)
	}
}

// TestHashValueDepthLimit: the fast hasher stops at MaxStoredDepth on values
// built without the decoder.
func TestHashValueDepthLimit(t *testing.T) {
	nested := func(n int) *ionvalue.Value {
		v := ionvalue.Struct()
		for i := 1; i < n; i++ {
			v = ionvalue.List(ionvalue.Int(1), v)
		}
		return v
	}
	if _, err := HashValue(nested(ionvalue.MaxStoredDepth)); err != nil {
		t.Fatalf("HashValue at MaxStoredDepth: %v", err)
	}
	if _, err := HashValue(nested(ionvalue.MaxStoredDepth + 1)); !errors.Is(err, ionvalue.ErrTooDeep) {
		t.Fatalf("HashValue beyond MaxStoredDepth: err = %v, want ErrTooDeep", err)
	}
	// The hasher's depth count is reset between values.
	if _, err := HashValue(nested(ionvalue.MaxStoredDepth)); err != nil {
		t.Fatalf("HashValue after a refusal: %v", err)
	}
}

// TestHashIonReferenceDepthLimit: the reference reader path is bounded by
// itself, whatever ionvalue decides first.
func TestHashIonReferenceDepthLimit(t *testing.T) {
	old := debug.SetMaxStack(4 << 20)
	defer debug.SetMaxStack(old)
	deep := []byte("{a:[" + strings.Repeat("(", 200_000) + strings.Repeat(")", 200_000) + "]}")
	if _, err := hashIonReference(deep); !errors.Is(err, ionvalue.ErrTooDeep) {
		t.Fatalf("err = %v, want ErrTooDeep", err)
	}
	atLimit := []byte(strings.Repeat("[", ionvalue.MaxDepth) + strings.Repeat("]", ionvalue.MaxDepth))
	want, err := HashIon(atLimit)
	if err != nil {
		t.Fatal(err)
	}
	got, err := hashIonReference(atLimit)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("reference at MaxDepth: %x, %v; want %x", got, err, want)
	}
}
