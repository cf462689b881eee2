package ionvalue

import "testing"

func TestMarshalPrettyRoundTrips(t *testing.T) {
	for _, src := range []string{
		`{a:1,b:[1,"x",{c:{{aGVsbG8=}}}],'d e':ann::(x y 1),f:{},g:[],h:null.struct}`,
		`[1,2]`, `7`, `ann::{a:ann2::[b]}`,
	} {
		v, err := DecodeOne([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		out := MarshalPretty(v, "  ")
		back, err := DecodeOne([]byte(out))
		if err != nil {
			t.Fatalf("%s: %v\n%s", src, err, out)
		}
		if !Equal(v, back) {
			t.Errorf("%s: pretty form %s reads back as %s", src, out, back)
		}
	}
	v, _ := DecodeOne([]byte(`{a:1,b:[2]}`))
	if got, want := MarshalPretty(v, "  "), "{\n  a: 1,\n  b: [\n    2\n  ]\n}"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
