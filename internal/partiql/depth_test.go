package partiql

import (
	"errors"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/testenv"
)

// nestedLists is n nested lists around 1 as Ion text.
func nestedLists(n int) string {
	return strings.Repeat("[", n) + "1" + strings.Repeat("]", n)
}

// TestIonLiteralDepthLimit: an Ion literal nested deeper than
// ionvalue.MaxDepth is a syntax error naming the limit. The deep case runs
// with a 4 MB stack: before the limit, decoding the literal overflowed the
// stack, which ends the process.
func TestIonLiteralDepthLimit(t *testing.T) {
	old := debug.SetMaxStack(4 << 20)
	defer debug.SetMaxStack(old)
	if _, err := Parse("SELECT VALUE `" + nestedLists(ionvalue.MaxDepth) + "` FROM T"); err != nil {
		t.Fatalf("literal at MaxDepth: %v", err)
	}
	for _, n := range []int{ionvalue.MaxDepth + 1, 40_000} {
		_, err := Parse("INSERT INTO T VALUE {'a': `" + nestedLists(n) + "`}")
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != CodeSyntax || !strings.Contains(pe.Message, "nesting depth exceeds the limit of 1000") {
			t.Fatalf("depth %d: err = %v, want a syntax error naming the limit", n, err)
		}
		if len(pe.Message) > 200 {
			t.Fatalf("depth %d: message is %d bytes long", n, len(pe.Message))
		}
	}
}

// TestWrittenDocumentDepthLimit: INSERT and UPDATE refuse a document nested
// deeper than ionvalue.MaxDepth, even when every parameter and literal is
// within the limit, and write nothing.
func TestWrittenDocumentDepthLimit(t *testing.T) {
	tx := newMemTx()
	ids := seed(t, tx, "T", `{a:1}`)
	atLimit := testenv.Ion(t, nestedLists(ionvalue.MaxDepth-1)) // the document struct adds one
	exec(t, tx, "INSERT INTO T VALUE {'a': ?}", atLimit)
	tx.calls = nil
	cases := []string{
		"INSERT INTO T VALUE {'a': [?]}",
		"INSERT INTO T << {'ok': 1}, {'a': [?]} >>",
		"UPDATE T AS t SET t.a = [?] WHERE t.a = 1",
	}
	for _, stmt := range cases {
		_, err := tryExec(tx, stmt, atLimit)
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != CodeEvaluation || !strings.Contains(pe.Message, "nesting depth exceeds the limit of 1000") {
			t.Fatalf("%s: err = %v, want an evaluation error naming the limit", stmt, err)
		}
	}
	if w := append(tx.callsWith("Insert"), tx.callsWith("Update")...); len(w) != 0 {
		t.Fatalf("writes despite the errors: %v", w)
	}
	if got := ionvalue.MarshalText(tx.tableNamed("T").docs[ids[0]]); got != "{a:1}" {
		t.Fatalf("document changed to %s", got)
	}
}
