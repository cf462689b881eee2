package testenv

import (
	"sort"
	"testing"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// Ion parses one Ion value written in text (an Ion literal in a test),
// failing the test when the text is not Ion.
func Ion(t testing.TB, text string) *ionvalue.Value {
	t.Helper()
	v, err := ionvalue.DecodeOne([]byte(text))
	if err != nil {
		t.Fatalf("bad Ion in test %q: %v", text, err)
	}
	return v
}

// IonOf converts a Go value to an Ion value the way the QLDB driver sends
// it as a parameter (ion-go's binary marshalling).
func IonOf(t testing.TB, x any) *ionvalue.Value {
	t.Helper()
	b, err := ion.MarshalBinary(x)
	if err != nil {
		t.Fatalf("marshal %#v: %v", x, err)
	}
	v, err := ionvalue.DecodeOne(b)
	if err != nil {
		t.Fatalf("decode %#v: %v", x, err)
	}
	return v
}

// IonTexts returns the Ion text of each value, sorted (for messages that
// compare values as multisets).
func IonTexts(vs []*ionvalue.Value) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.String()
	}
	sort.Strings(out)
	return out
}

// SameValues reports whether got and want hold the same values as
// multisets (QLDB leaves result order unspecified), by ionvalue.Equal.
func SameValues(got, want []*ionvalue.Value) bool {
	if len(got) != len(want) {
		return false
	}
	used := make([]bool, len(got))
next:
	for _, w := range want {
		for i, g := range got {
			if !used[i] && ionvalue.Equal(g, w) {
				used[i] = true
				continue next
			}
		}
		return false
	}
	return true
}

// WantValues fails the test (t.Errorf) unless got holds exactly the values
// written in want as Ion text, in any order; what names them in the
// message.
func WantValues(t testing.TB, what string, got []*ionvalue.Value, want ...string) {
	t.Helper()
	wv := make([]*ionvalue.Value, len(want))
	for i, w := range want {
		wv[i] = Ion(t, w)
	}
	if !SameValues(got, wv) {
		t.Errorf("%s:\n got  %v\n want %v", what, IonTexts(got), IonTexts(wv))
	}
}
