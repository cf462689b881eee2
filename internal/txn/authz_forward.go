package txn

import (
	"errors"

	"github.com/strand-db/strand/internal/partiql"
)

// The guard wraps the transaction as a partiql.Tx, which hides the
// optional interfaces the evaluator looks for on its Tx. Each one the
// Transaction implements is forwarded here, so that a statement behaves
// the same with policies as without (TestGuardForwardsOptionalInterfaces
// keeps this list complete).

// PartiQLExtensions implements partiql.Extensions.
func (g *guardedTx) PartiQLExtensions() bool {
	x, ok := g.Tx.(partiql.Extensions)
	return ok && x.PartiQLExtensions()
}

// CreateUniqueIndex implements partiql.UniqueIndexer.
func (g *guardedTx) CreateUniqueIndex(tableID, field string) (string, error) {
	u, ok := g.Tx.(partiql.UniqueIndexer)
	if !ok {
		return "", errors.New("txn: this transaction cannot create unique indexes")
	}
	return u.CreateUniqueIndex(tableID, field)
}

// CreateTaggedTable implements partiql.TableTagger. The statement's
// qldb:PartiQLCreateTable and qldb:TagResource were checked before it ran.
func (g *guardedTx) CreateTaggedTable(name string, tags map[string]string) (string, error) {
	tt, ok := g.Tx.(partiql.TableTagger)
	if !ok {
		return "", errors.New("txn: this transaction cannot tag tables")
	}
	return tt.CreateTaggedTable(name, tags)
}
