package partiql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/ionvalue"
)

// intList is the Ion list [0, 1, ..., n-1].
func intList(n int) *ionvalue.Value {
	es := make([]*ionvalue.Value, n)
	for i := range es {
		es[i] = ionvalue.Int(int64(i))
	}
	return ionvalue.List(es...)
}

func execLimited(ctx context.Context, t *testing.T, text string, lim Limits, params ...*ionvalue.Value) (*Result, error) {
	t.Helper()
	st, err := Parse(text)
	if err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	return ExecuteContext(ctx, newMemTx(), st, params, lim)
}

// TestStatementBudget: the rows and memory budgets stop a cross join with a
// budget error (a BadRequestException's *Error), and a statement within
// budget still runs.
func TestStatementBudget(t *testing.T) {
	l := intList(100)
	cross := "SELECT * FROM ? a, ? b, ? c"
	for _, tc := range []struct {
		name string
		text string
		lim  Limits
	}{
		{"rows", "SELECT COUNT(*) FROM ? a, ? b, ? c", Limits{MaxRowsVisited: 100000}},
		{"memory", cross, Limits{MaxMemoryBytes: 1 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := execLimited(context.Background(), t, tc.text, tc.lim, l, l, l)
			if !errors.Is(err, ErrBudget) {
				t.Fatalf("error = %v, want the budget error", err)
			}
			wantErr(t, err, CodeBudget, "Statement budget exceeded")
		})
	}
	res, err := execLimited(context.Background(), t, "SELECT COUNT(*) FROM ? a, ? b", Limits{MaxRowsVisited: 20000, MaxMemoryBytes: 1 << 20}, l, l)
	if err != nil {
		t.Fatalf("statement within budget: %v", err)
	}
	if got := rowsText(res.Rows); got != "{_1:10000}" {
		t.Fatalf("rows = %s", got)
	}
}

// TestStatementContext: a cancelled context stops the evaluator with an
// error wrapping the context's cause.
func TestStatementContext(t *testing.T) {
	l := intList(100)
	cause := errors.New("transaction expired")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	_, err := execLimited(ctx, t, "SELECT COUNT(*) FROM ? a, ? b, ? c", Limits{}, l, l, l)
	if !errors.Is(err, cause) {
		t.Fatalf("error = %v, want the context's cause", err)
	}
	// Cancelled while running: a table scan's callback sees it too.
	tx := newMemTx()
	ctx = &doneAfter{Context: context.Background(), n: 3}
	exec(t, tx, "CREATE TABLE T")
	for i := 0; i < 300; i++ {
		exec(t, tx, "INSERT INTO T VALUE {'a': 1}")
	}
	st, err := Parse("SELECT COUNT(*) FROM T x, T y")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ExecuteContext(ctx, tx, st, nil, Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("scan: error = %v, want context.Canceled", err)
	}
}

// doneAfter is a context that reports Canceled from its n-th Err call on:
// it cancels a statement in the middle of its work, deterministically.
type doneAfter struct {
	context.Context
	n int
}

func (d *doneAfter) Err() error {
	if d.n--; d.n <= 0 {
		return context.Canceled
	}
	return nil
}

// chainStatement is SELECT <what> FROM a chain of n sources, each a bag
// holding a list of the one before twice: a<n-1> is a value of 2^n leaves
// built from 2n shared ones.
func chainStatement(what string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT %s FROM <<[1, 1]>> AS a0", what)
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, ", <<[a%d, a%d]>> AS a%d", i-1, i-1, i)
	}
	return b.String()
}

// TestSharedValuesBounded: values the statement builds from shared parts
// are held to the memory budget when they are built, not only when a row
// holds them. Before, a 60-source chain that doubles a list at each source
// built a value of 2^60 leaves in microseconds; counting it as a result row
// (or comparing it, or storing it) then walked it for ever.
func TestSharedValuesBounded(t *testing.T) {
	lim := Limits{MaxRowsVisited: 1_000_000, MaxMemoryBytes: 64 << 20}
	for _, what := range []string{"COUNT(*)", "VALUE a59"} {
		_, err := execLimited(context.Background(), t, chainStatement(what, 60), lim)
		if !errors.Is(err, ErrBudget) {
			t.Fatalf("SELECT %s over a 60-source chain: error = %v, want the budget error", what, err)
		}
		wantErr(t, err, CodeBudget, "builds a value of more than")
	}
	// A short chain is within the budget and its value is whole.
	res, err := execLimited(context.Background(), t, chainStatement("VALUE a2", 3), lim)
	if err != nil {
		t.Fatalf("3-source chain: %v", err)
	}
	if got := rowsText(res.Rows); got != "[[[1,1],[1,1]],[[1,1],[1,1]]]" {
		t.Fatalf("3-source chain = %s", got)
	}
	// Charging a row walks no more of it than the budget left.
	big := ionvalue.List(ionvalue.Int(1), ionvalue.Int(2))
	for i := 0; i < 60; i++ {
		big = ionvalue.List(big, big)
	}
	if n := ApproxSizeUpTo(big, 1<<20); n <= 1<<20 || n > 2<<20 {
		t.Fatalf("ApproxSizeUpTo(2^60 leaves, 1 MiB) = %d, want just over 1 MiB", n)
	}
}

// TestConcatBounded: || checks the string it would make against the
// memory budget before making it. Before, a chain of || over a 1 MiB
// parameter made a 60 MiB string that nothing held, under a 16 MiB budget.
func TestConcatBounded(t *testing.T) {
	p := ionvalue.String(strings.Repeat("a", 1<<20))
	q := "SELECT COUNT(*) FROM <<?>> AS v WHERE (v" + strings.Repeat(" || v", 59) + ") IS NOT NULL"
	_, err := execLimited(context.Background(), t, q, Limits{MaxMemoryBytes: 16 << 20}, p)
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("60 MiB of ||: error = %v, want the budget error", err)
	}
	wantErr(t, err, CodeBudget, "builds a string of more than")
	res, err := execLimited(context.Background(), t, "SELECT VALUE v || v FROM <<?>> AS v", Limits{MaxMemoryBytes: 16 << 20}, p)
	if err != nil || len(res.Rows) != 1 || len(res.Rows[0].Text) != 2<<20 {
		t.Fatalf("2 MiB of ||: %v", err)
	}
}

// TestLikeStopsWithContext: LIKE of a long string against a long pattern
// (quadratic: here about 10^8 steps) looks at the statement's context
// while it runs. Before, it ran to its end whatever the context said.
func TestLikeStopsWithContext(t *testing.T) {
	s := ionvalue.String(strings.Repeat("a", 20000))
	pat := ionvalue.String("%" + strings.Repeat("a", 10000) + "b")
	st, err := Parse("SELECT COUNT(*) FROM <<1>> AS x WHERE ? LIKE ?")
	if err != nil {
		t.Fatal(err)
	}
	res, err := ExecuteContext(context.Background(), newMemTx(), st, []*ionvalue.Value{s, pat}, Limits{})
	if err != nil || rowsText(res.Rows) != "{_1:0}" {
		t.Fatalf("uncancelled: %v", err)
	}
	calls := &countErr{Context: context.Background()}
	if _, err := ExecuteContext(calls, newMemTx(), st, []*ionvalue.Value{s, pat}, Limits{}); err != nil {
		t.Fatal(err)
	}
	// One look per 2^20 steps: about 95 for these 10^8.
	if calls.n < 50 {
		t.Fatalf("the statement looked at its context %d times, want one look per 2^20 steps of LIKE", calls.n)
	}
	// Cancelled halfway through the LIKE, it stops there.
	ctx := &doneAfter{Context: context.Background(), n: calls.n / 2}
	if _, err := ExecuteContext(ctx, newMemTx(), st, []*ionvalue.Value{s, pat}, Limits{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: error = %v, want context.Canceled", err)
	}
}

// countErr is a context that counts its Err calls.
type countErr struct {
	context.Context
	n int
}

func (c *countErr) Err() error {
	c.n++
	return nil
}

// TestProductsBounded: a product of ints or decimals whose operands hold
// more than maxProductBits between them is an error. Before, a chain of
// products of a decimal parameter grew its coefficient by the parameter's
// length at each step, without bound.
func TestProductsBounded(t *testing.T) {
	digits := strings.Repeat("7", 3000)
	for _, tc := range []struct{ name, param, msg string }{
		{"decimal", digits + "d0", "decimal result too large"},
		{"int", digits, "integer result too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ionvalue.Decode([]byte(tc.param))
			if err != nil {
				t.Fatal(err)
			}
			_, err = execLimited(context.Background(), t, "SELECT VALUE x"+strings.Repeat(" * x", 9)+" FROM <<?>> AS x", Limits{}, p[0])
			wantErr(t, err, CodeEvaluation, tc.msg)
			// Three factors (about 30,000 bits) are within the bound.
			res, err := execLimited(context.Background(), t, "SELECT VALUE x * x * x FROM <<?>> AS x", Limits{}, p[0])
			if err != nil || len(res.Rows) != 1 {
				t.Fatalf("x * x * x: %v", err)
			}
		})
	}
}
