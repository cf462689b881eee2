package txn

import (
	"reflect"
	"testing"

	"github.com/strand-db/strand/internal/partiql"
)

// TestGuardForwardsOptionalInterfaces: every optional partiql interface
// the Transaction implements, the statement guard implements too, so that
// policies never change what a statement can do (they hid CREATE TABLE
// ... WITH (aws_tags), CREATE UNIQUE INDEX and the extension mode).
func TestGuardForwardsOptionalInterfaces(t *testing.T) {
	optional := []reflect.Type{
		reflect.TypeFor[partiql.Extensions](),
		reflect.TypeFor[partiql.UniqueIndexer](),
		reflect.TypeFor[partiql.TableTagger](),
		reflect.TypeFor[partiql.Redactor](),
	}
	tx, guard := reflect.TypeFor[*Transaction](), reflect.TypeFor[*guardedTx]()
	for _, it := range optional {
		if tx.Implements(it) && !guard.Implements(it) {
			t.Errorf("the statement guard hides %v, which the transaction implements", it)
		}
	}
}
