package partiql

import (
	"testing"
)

func TestParseParamsAndKind(t *testing.T) {
	st, err := Parse("UPDATE t SET a = ?, b = ? WHERE c IN (?, ?, ?)")
	if err != nil {
		t.Fatal(err)
	}
	if st.NumParams != 5 {
		t.Errorf("NumParams = %d, want 5", st.NumParams)
	}
	if st.ReadOnly() || st.Kind() != "UPDATE" {
		t.Errorf("ReadOnly=%v Kind=%s", st.ReadOnly(), st.Kind())
	}
	st, _ = Parse("SELECT * FROM t")
	if !st.ReadOnly() || st.Kind() != "SELECT" {
		t.Errorf("ReadOnly=%v Kind=%s", st.ReadOnly(), st.Kind())
	}
}

func TestLexerPositions(t *testing.T) {
	toks, err := lex("SELECT\n  a.\"b\" , `1`\n?")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind      tokKind
		text      string
		line, col int
	}{
		{tokKeyword, "SELECT", 1, 1}, {tokIdent, "a", 2, 3}, {tokPunct, ".", 2, 4}, {tokQuoted, "b", 2, 5},
		{tokPunct, ",", 2, 9}, {tokIon, "1", 2, 11}, {tokParam, "?", 3, 1}, {tokEOF, "", 3, 2},
	}
	if len(toks) != len(want) {
		t.Fatalf("got %d tokens, want %d", len(toks), len(want))
	}
	for i, w := range want {
		g := toks[i]
		if g.kind != w.kind || g.text != w.text || g.pos.Line != w.line || g.pos.Col != w.col {
			t.Errorf("token %d = %+v, want %+v", i, g, w)
		}
	}
}
