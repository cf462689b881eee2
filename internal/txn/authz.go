package txn

import (
	"context"

	"github.com/strand-db/strand/internal/partiql"
)

// TableAccess is one permission a statement needs (partiql.Accesses), its
// table resolved in the transaction's view: TableID is the table's id, or
// "" when the access is to the catalog, to a table being created, or to a
// name that is no table (nothing to check then: the statement fails as
// for any missing table). An Access whose Action is "" stands for a
// statement kind partiql.Accesses does not classify.
type TableAccess struct {
	partiql.Access
	TableID string
}

// StatementAuthorizer decides whether a statement may run: it gets the
// ledger's name and what the statement needs, and returns nil to let it
// run, or the error to answer (nothing of the statement runs then).
type StatementAuthorizer func(ledgerName string, accesses []TableAccess) error

type authorizerKey struct{}

// WithStatementAuthorizer returns a context under which ExecuteStatement
// asks az before running each statement. The API layer sets it per
// request (it knows the caller); without it statements run unchecked.
func WithStatementAuthorizer(ctx context.Context, az StatementAuthorizer) context.Context {
	return context.WithValue(ctx, authorizerKey{}, az)
}

// authorizeStatement asks the context's authorizer, if any, about st.
func authorizeStatement(ctx context.Context, l *LedgerEngine, t *Transaction, st *partiql.Statement) error {
	az, _ := ctx.Value(authorizerKey{}).(StatementAuthorizer)
	if az == nil {
		return nil
	}
	accs, ok := partiql.Accesses(st)
	if !ok {
		return az(l.Name, []TableAccess{{}})
	}
	out := make([]TableAccess, 0, len(accs))
	for _, a := range accs {
		ta := TableAccess{Access: a}
		switch {
		case a.Table != "":
			ti, ok := t.Table(a.Table)
			if !ok {
				continue
			}
			ta.TableID = ti.ID
		case a.TableID != "":
			if ti, ok := t.TableByID(a.TableID); ok {
				ta.TableID = ti.ID
			} else {
				continue
			}
		}
		out = append(out, ta)
	}
	return az(l.Name, out)
}
