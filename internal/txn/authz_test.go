package txn

import (
	"context"
	"testing"

	"github.com/strand-db/strand/internal/partiql"
	"github.com/strand-db/strand/internal/qldberr"
)

// TestStatementAuthorizerGuardsTheTableThatRuns: the authorizer approves
// table T by id; if a concurrent commit replaces T by a new table of the
// same name between the check and the run, the statement must not read the
// new table unless the authorizer approves it too (here it does not): the
// statement fails and returns none of its rows.
func TestStatementAuthorizerGuardsTheTableThatRuns(t *testing.T) {
	e, _ := newTestEngine(t, Options{})
	admin := newClient(t, e)
	admin.do("CREATE TABLE T", "INSERT INTO T VALUE {'v': 'old'}")
	oldID := admin.do("SELECT VALUE tableId FROM information_schema.user_tables WHERE name = 'T'")[0].Text
	other := newClient(t, e)
	var calls [][]TableAccess
	az := func(_ string, accs []TableAccess) error {
		calls = append(calls, accs)
		if len(calls) == 1 {
			other.do("DROP TABLE T", "CREATE TABLE T", "INSERT INTO T VALUE {'v': 'new'}")
		}
		for _, a := range accs {
			if a.TableID != oldID {
				return qldberr.New(qldberr.BadRequest, "table %s is not allowed", a.TableID)
			}
		}
		return nil
	}
	c := newClient(t, e)
	if err := c.begin(); err != nil {
		t.Fatal(err)
	}
	ctx := WithStatementAuthorizer(context.Background(), az)
	page, _, err := e.ExecuteStatement(ctx, c.token, c.txID, "SELECT VALUE v FROM T", nil)
	if err == nil {
		t.Fatalf("the statement ran on the replaced table and returned %d rows", len(page.Values))
	}
	if len(calls) != 2 || len(calls[0]) != 1 || calls[0][0].TableID != oldID || len(calls[1]) != 1 || calls[1][0].TableID == oldID {
		t.Fatalf("authorizer calls %+v, want one for the old table, then one for the new", calls)
	}
	// Without a change in between, one call and the rows.
	calls = nil
	page, _, err = e.ExecuteStatement(WithStatementAuthorizer(context.Background(), func(_ string, accs []TableAccess) error {
		calls = append(calls, accs)
		return nil
	}), c.token, c.txID, "SELECT VALUE v FROM T", nil)
	if err != nil || len(page.Values) != 1 || len(calls) != 1 {
		t.Fatalf("plain run: err %v, %d rows, %d authorizer calls", err, len(page.Values), len(calls))
	}
}

// redactingTx is a partiql.Tx (only RedactRevision is called) that can
// redact, as the transaction layer's Tx does with EXEC redact_revision.
type redactingTx struct {
	partiql.Tx
	redacted []string
}

func (r *redactingTx) RedactRevision(_ string, _ uint64, tableID, _ string) (uint64, error) {
	r.redacted = append(r.redacted, tableID)
	return 1, nil
}

// TestGuardAuthorizesRedaction: the guard passes redactions on to a Tx
// that can redact, each after qldb:PartiQLRedact on its table.
func TestGuardAuthorizesRedaction(t *testing.T) {
	inner := &redactingTx{}
	var asked []TableAccess
	g := &guardedTx{Tx: inner, ledger: "l", allowed: map[string]bool{}, az: func(_ string, accs []TableAccess) error {
		asked = append(asked, accs...)
		if accs[0].TableID == "secret" {
			return qldberr.New(qldberr.BadRequest, "denied")
		}
		return nil
	}}
	if _, err := g.RedactRevision("s", 1, "open", "d"); err != nil {
		t.Fatal(err)
	}
	if _, err := g.RedactRevision("s", 1, "secret", "d"); err == nil {
		t.Fatal("a redaction on a denied table went through")
	}
	if len(inner.redacted) != 1 || inner.redacted[0] != "open" {
		t.Fatalf("redacted %v, want [open]", inner.redacted)
	}
	if len(asked) != 2 || asked[0].Action != partiql.ActionRedact || asked[1].TableID != "secret" {
		t.Fatalf("asked %+v", asked)
	}
	if _, err := (&guardedTx{Tx: nil, allowed: map[string]bool{}}).RedactRevision("s", 1, "t", "d"); err == nil {
		t.Fatal("a Tx that cannot redact: no error")
	}
}
