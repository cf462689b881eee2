package partiql

import (
	"context"
	"errors"
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
