package journal

import (
	"sync"
	"time"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/qldbhash"
)

// This file hashes the fixed shapes the journal hashes for every revision
// and block (revision metadata and transactionInfo) without allocating
// their Ion values one by one: the values are laid out in a pooled arena,
// hashed, and the arena is reused. The values built are exactly those of
// RevisionMetadata.Ion and TransactionInfo.Ion, so the hashes are
// byte-identical (hasharena_test.go compares them).

// hashArena holds the Ion values of one shape being hashed. Its slices are
// sized before they are filled; were one to grow anyway, the values already
// placed would stay valid (they keep pointing into the old array, which is
// never written again), so sizing only matters for speed.
type hashArena struct {
	vals   []ionvalue.Value
	fields []ionvalue.Field
	elems  []*ionvalue.Value
}

var arenas = sync.Pool{New: func() any { return new(hashArena) }}

// maxPooledArena bounds the arenas returned to the pool.
const maxPooledArena = 1 << 12

// getArena returns an empty arena with room for nv values, nf fields and
// ne list elements.
func getArena(nv, nf, ne int) *hashArena {
	a := arenas.Get().(*hashArena)
	if cap(a.vals) < nv {
		a.vals = make([]ionvalue.Value, 0, nv)
	}
	if cap(a.fields) < nf {
		a.fields = make([]ionvalue.Field, 0, nf)
	}
	if cap(a.elems) < ne {
		a.elems = make([]*ionvalue.Value, 0, ne)
	}
	a.vals, a.fields, a.elems = a.vals[:0], a.fields[:0], a.elems[:0]
	return a
}

// release clears the arena (so it keeps no strings alive) and pools it.
// Only the used part needs clearing: the rest was cleared by the release
// that last used it.
func (a *hashArena) release() {
	clear(a.vals)
	clear(a.fields)
	clear(a.elems)
	if cap(a.vals) <= maxPooledArena && cap(a.fields) <= maxPooledArena && cap(a.elems) <= maxPooledArena {
		arenas.Put(a)
	}
}

// val places v in the arena and returns its address.
func (a *hashArena) val(v ionvalue.Value) *ionvalue.Value {
	a.vals = append(a.vals, v)
	return &a.vals[len(a.vals)-1]
}

// field appends a field; structSince turns the fields appended since
// len(a.fields) was start into a struct, so a struct's fields must be
// appended with nothing else in between.
func (a *hashArena) field(name string, v *ionvalue.Value) {
	a.fields = append(a.fields, ionvalue.Field{Name: name, Value: v})
}

func (a *hashArena) structSince(start int) *ionvalue.Value {
	return a.val(ionvalue.Value{Type: ion.StructType, Fields: a.fields[start:len(a.fields):len(a.fields)]})
}

// elem appends a list element; listSince is structSince for lists.
func (a *hashArena) elem(v *ionvalue.Value) { a.elems = append(a.elems, v) }

func (a *hashArena) listSince(start int) *ionvalue.Value {
	return a.val(ionvalue.Value{Type: ion.ListType, Elems: a.elems[start:len(a.elems):len(a.elems)]})
}

func (a *hashArena) str(s string) *ionvalue.Value {
	return a.val(ionvalue.Value{Type: ion.StringType, Text: s})
}

func (a *hashArena) millis(t time.Time) *ionvalue.Value {
	return a.val(ionvalue.Value{Type: ion.TimestampType, Time: ionvalue.MillisTimestamp(t)})
}

// metadataHash returns qldbhash.HashValue(m.Ion()), as an array.
func metadataHash(m RevisionMetadata) ([qldbhash.Size]byte, error) {
	a := getArena(5, 4, 0)
	defer a.release()
	a.field("id", a.str(m.ID))
	a.field("version", a.val(ionvalue.Value{Type: ion.IntType, Int: int64(m.Version)}))
	a.field("txTime", a.millis(m.TxTime))
	a.field("txId", a.str(m.TxID))
	return qldbhash.HashValueSum(a.structSince(0))
}

// transactionInfoHash returns qldbhash.HashValue(ti.Ion()).
func transactionInfoHash(ti TransactionInfo) ([]byte, error) {
	nv, nf, ne := 2+4*len(ti.Statements), 2+3*len(ti.Statements), len(ti.Statements)
	if len(ti.Documents) > 0 {
		nv++
		nf += len(ti.Documents)
		for _, d := range ti.Documents {
			nv += 4 + len(d.Statements)
			nf += 3
			ne += len(d.Statements)
		}
	}
	a := getArena(nv, nf, ne)
	defer a.release()
	// The statements' structs first (each one's fields together), then
	// their list.
	first := len(a.elems)
	for _, s := range ti.Statements {
		start := len(a.fields)
		a.field("statement", a.str(s.Statement))
		a.field("startTime", a.millis(s.StartTime))
		a.field("statementDigest", a.val(ionvalue.Value{Type: ion.BlobType, Bytes: s.StatementDigest}))
		a.elem(a.structSince(start))
	}
	stmts := a.listSince(first)
	var docs *ionvalue.Value
	if len(ti.Documents) > 0 {
		var buf [8]*ionvalue.Value
		inner := buf[:0]
		for _, d := range ti.Documents {
			idxStart := len(a.elems)
			for _, n := range d.Statements {
				a.elem(a.val(ionvalue.Value{Type: ion.IntType, Int: int64(n)}))
			}
			idx := a.listSince(idxStart)
			start := len(a.fields)
			a.field("tableName", a.str(d.TableName))
			a.field("tableId", a.str(d.TableID))
			a.field("statements", idx)
			inner = append(inner, a.structSince(start))
		}
		start := len(a.fields)
		for i, d := range ti.Documents {
			a.field(d.DocumentID, inner[i])
		}
		docs = a.structSince(start)
	}
	start := len(a.fields)
	a.field("statements", stmts)
	if docs != nil {
		a.field("documents", docs)
	}
	return qldbhash.HashValue(a.structSince(start))
}
