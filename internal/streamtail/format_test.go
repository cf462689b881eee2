package streamtail

import (
	"encoding/json"
	"testing"

	"github.com/strand-db/strand/internal/ionvalue"
)

func TestFormatJSON(t *testing.T) {
	v, err := ionvalue.DecodeOne([]byte(`{a:1, b:1.50, c:2.5d3, d:{{aGk=}}, e:2020-07-03T20:36:44.181Z, f:sym, g:[nan, 1e0], h:null.int, i:"x\"y", j:7.}`))
	if err != nil {
		t.Fatal(err)
	}
	bin, err := ionvalue.MarshalBinary(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := FormatJSON(bin)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":1,"b":1.50,"c":25e2,"d":"aGk=","e":"2020-07-03T20:36:44.181Z","f":"sym","g":[null,1],"h":null,"i":"x\"y","j":7}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Fatal("not valid JSON")
	}
}
