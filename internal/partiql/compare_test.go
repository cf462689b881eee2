package partiql

import (
	"bytes"
	"testing"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/testenv"
)

func TestIndexKeyMatchesEquality(t *testing.T) {
	texts := []string{
		"1", "1.0", "1.00", "1e0", "10d-1", "2", "-1", "-1.0", "-1e0", "0", "0.0", "-0.0", "0e0", "-0e0",
		"100", "1d2", "1.5", "15d-1", "1.5e0", "0.1", "0.1e0", "nan", "+inf", "-inf",
		"123456789012345678901234567890", "123456789012345678901234567890.000",
		`"abc"`, "abc", `'abc'`, `"abd"`, `""`,
		"true", "false",
		"2020-01-01T00:00:00Z", "2020-01-01T01:00:00+01:00", "2020-01-01T00:00:00.000Z", "2020T", "2020-01-01T00:00:00.001Z",
		"{{aGk=}}", `{{"hi"}}`,
		"[1,2]", "[1.0,2e0]", "[2,1]", "(1 2)", "[]", "[null]", "[null.int]",
		"{a:1,b:2}", "{b:2.0,a:1}", "{a:1}", "{a:1,a:1}", "{}", "{a:[1,{b:2}]}", "{a:[1.0,{b:2e0}]}",
	}
	vals := make([]*ionvalue.Value, len(texts))
	for i, s := range texts {
		vals[i] = testenv.Ion(t, s)
	}
	for i, a := range vals {
		for j, b := range vals {
			eq := valuesEqual(a, b)
			keq := bytes.Equal(IndexKey(a), IndexKey(b))
			if eq != keq {
				t.Errorf("%s vs %s: valuesEqual %v, IndexKey equal %v", texts[i], texts[j], eq, keq)
			}
		}
	}
	must := [][2]string{
		{"1", "1.00"}, {"1", "1e0"}, {"0", "-0e0"}, {"1d2", "100"}, {"0.1", "0.1e0"}, {`"abc"`, "abc"},
		{"2020-01-01T00:00:00Z", "2020-01-01T01:00:00+01:00"}, {"2020T", "2020-01-01T00:00:00.000Z"},
		{"[1,2]", "[1.0,2e0]"}, {"{a:1,b:2}", "{b:2.0,a:1}"}, {"{a:[1,{b:2}]}", "{a:[1.0,{b:2e0}]}"}, {"nan", "nan"},
	}
	for _, m := range must {
		if !valuesEqual(testenv.Ion(t, m[0]), testenv.Ion(t, m[1])) {
			t.Errorf("%s should equal %s", m[0], m[1])
		}
	}
	mustNot := [][2]string{{"[1,2]", "[2,1]"}, {"[1,2]", "(1 2)"}, {"{a:1}", "{a:1,a:1}"}, {"1", `"1"`}, {"{{aGk=}}", `{{"hi"}}`}, {"+inf", "-inf"}}
	for _, m := range mustNot {
		if valuesEqual(testenv.Ion(t, m[0]), testenv.Ion(t, m[1])) {
			t.Errorf("%s should not equal %s", m[0], m[1])
		}
	}
	if IndexKey(nil) != nil || IndexKey(ionvalue.Null()) != nil || IndexKey(testenv.Ion(t, "null.string")) != nil {
		t.Error("IndexKey of NULL/MISSING should be nil")
	}
}

func TestNumberOrdering(t *testing.T) {
	// Ascending; equal neighbours are marked by the same group number.
	ordered := []struct {
		text  string
		group int
	}{
		{"-inf", 0}, {"-1e300", 1}, {"-123456789012345678901234567890", 2}, {"-2.5", 3}, {"-2.5e0", 3},
		{"-2", 4}, {"-1", 5}, {"-0.5", 6}, {"-1d-300", 7}, {"0", 8}, {"-0.0", 8}, {"0e0", 8}, {"1d-300", 9},
		{"0.1", 10}, {"0.1e0", 10}, {"0.25", 11}, {"1", 12}, {"1.000", 12}, {"2", 13}, {"9.99", 14}, {"10", 15},
		{"1d1", 15}, {"123456789012345678901234567890", 16}, {"1e300", 17}, {"1d400", 18}, {"+inf", 19},
	}
	for i, a := range ordered {
		for j, b := range ordered {
			want := cmpInt(a.group, b.group)
			if got := compareNumbers(testenv.Ion(t, a.text), testenv.Ion(t, b.text)); got != want {
				t.Errorf("compare(%s, %s) = %d, want %d (i=%d j=%d)", a.text, b.text, got, want, i, j)
			}
		}
	}
}

func TestCompareTotal(t *testing.T) {
	asc := []string{"null", "false", "true", "-1", "0.5", "2e0", "2001T", `"a"`, "b", `{{"x"}}`, "{{aGk=}}", "[1]", "[1,2]", "[2]", "(1)", "{a:1}"}
	for i := 0; i+1 < len(asc); i++ {
		a, b := testenv.Ion(t, asc[i]), testenv.Ion(t, asc[i+1])
		if compareTotal(a, b) >= 0 || compareTotal(b, a) <= 0 {
			t.Errorf("expected %s < %s", asc[i], asc[i+1])
		}
	}
	if compareTotal(nil, ionvalue.Null()) != 0 {
		t.Error("MISSING and NULL should sort together")
	}
}

func TestLikeMatch(t *testing.T) {
	cases := []struct {
		s, p string
		want bool
	}{
		{"abc", "abc", true}, {"abc", "a%", true}, {"abc", "%c", true}, {"abc", "%b%", true}, {"abc", "a_c", true},
		{"abc", "a_", false}, {"abc", "%", true}, {"", "%", true}, {"", "_", false}, {"a%c", "a!%c", true},
		{"abc", "a!%c", false}, {"aXbXc", "a%b%c", true}, {"héllo", "h_llo", true}, {"mississippi", "%iss%ppi", true},
	}
	for _, c := range cases {
		got, ok, err := likeMatch([]rune(c.s), []rune(c.p), '!', noSpendLimit)
		if !ok || err != nil || got != c.want {
			t.Errorf("%q LIKE %q = %v (ok %v), want %v", c.s, c.p, got, ok, c.want)
		}
	}
	if _, ok, _ := likeMatch([]rune("a"), []rune("a!"), '!', noSpendLimit); ok {
		t.Error("a pattern ending in the escape should be invalid")
	}
}

// noSpendLimit is a likeMatch spend that never stops it.
func noSpendLimit(int64) error { return nil }
