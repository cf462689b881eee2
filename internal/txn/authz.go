package txn

import (
	"context"
	"errors"

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

// authorizeStatement asks the context's authorizer, if any, about st. It
// returns the Tx the statement must run on: t itself without an
// authorizer, else a guard over t (see guardedTx).
func authorizeStatement(ctx context.Context, l *LedgerEngine, t *Transaction, st *partiql.Statement) (partiql.Tx, *guardedTx, error) {
	az, _ := ctx.Value(authorizerKey{}).(StatementAuthorizer)
	if az == nil {
		return t, nil, nil
	}
	accs, ok := partiql.Accesses(st)
	if !ok {
		// A statement kind Accesses does not classify: the authorizer
		// refuses it where permissions are checked per statement, and
		// otherwise it runs under the guard like any other.
		if err := az(l.Name, []TableAccess{{}}); err != nil {
			return nil, nil, err
		}
		g := &guardedTx{Tx: t, az: az, ledger: l.Name, allowed: map[string]bool{}}
		return g, g, nil
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
	if err := az(l.Name, out); err != nil {
		return nil, nil, err
	}
	g := &guardedTx{Tx: t, az: az, ledger: l.Name, allowed: map[string]bool{}}
	for _, a := range out {
		if a.TableID != "" {
			g.allowed[a.TableID] = true
		}
	}
	return g, g, nil
}

// guardedTx is the Tx an authorized statement runs on. It notes every table
// the evaluator resolves (by name or id) that the authorizer did not see:
// a table created under an authorized name by a concurrent commit between
// the check and the run, or one partiql.Accesses missed. check then asks
// the authorizer about those as reads; a refusal undoes the statement, so
// none of its result reaches the client.
type guardedTx struct {
	partiql.Tx
	az      StatementAuthorizer
	ledger  string
	allowed map[string]bool
	stray   []TableAccess
}

// Table implements partiql.Tx.
func (g *guardedTx) Table(name string) (partiql.TableInfo, bool) {
	ti, ok := g.Tx.Table(name)
	if ok {
		g.note(ti.ID, name)
	}
	return ti, ok
}

// TableByID implements partiql.Tx.
func (g *guardedTx) TableByID(id string) (partiql.TableInfo, bool) {
	ti, ok := g.Tx.TableByID(id)
	if ok {
		g.note(ti.ID, ti.Name)
	}
	return ti, ok
}

func (g *guardedTx) note(id, name string) {
	if g.allowed[id] {
		return
	}
	g.allowed[id] = true // ask once
	g.stray = append(g.stray, TableAccess{TableID: id,
		Access: partiql.Access{Action: partiql.ActionSelect, Table: name, Pos: partiql.Pos{Line: 1, Col: 1}}})
}

// RedactRevision forwards EXEC redact_revision to the transaction (when
// it can redact), after asking the authorizer for qldb:PartiQLRedact on
// the table: its id is known only once the statement's arguments are
// evaluated, so this check runs here rather than before the statement.
func (g *guardedTx) RedactRevision(strandID string, seq uint64, tableID, docID string) (uint64, error) {
	r, ok := g.Tx.(interface {
		RedactRevision(strandID string, seq uint64, tableID, docID string) (uint64, error)
	})
	if !ok {
		return 0, errors.New("txn: this transaction cannot redact revisions")
	}
	g.allowed[tableID] = true
	if err := g.az(g.ledger, []TableAccess{{TableID: tableID,
		Access: partiql.Access{Action: partiql.ActionRedact, TableID: tableID, Pos: partiql.Pos{Line: 1, Col: 1}}}}); err != nil {
		return 0, err
	}
	return r.RedactRevision(strandID, seq, tableID, docID)
}

// check authorizes the stray tables the statement resolved.
func (g *guardedTx) check() error {
	if g == nil || len(g.stray) == 0 {
		return nil
	}
	return g.az(g.ledger, g.stray)
}
