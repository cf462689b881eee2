package partiql

import (
	"errors"
	"sort"
	"strings"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// The extension mode adds what QLDB users asked for most and QLDB refused:
//
//	SELECT ... [ORDER BY e [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET m]
//	CREATE UNIQUE INDEX ON t (field)
//
// It is off by default; a Tx turns it on by implementing Extensions. In the
// default mode these statements fail as in QLDB (CodeUnsupported), so an
// application tested against Strand runs unchanged on QLDB's dialect.
//
// ORDER BY sorts with the total order of compare.go (NULL and MISSING
// first, then booleans, numbers by value, timestamps by instant, text,
// ...); ASC is the default; NULLS FIRST/LAST moves NULL and MISSING keys;
// the sort is stable (rows with equal keys keep their FROM order). A key is
// evaluated on the FROM row; a bare name that is no FROM variable and has
// no value there names a SELECT-list alias (ORDER BY alias). LIMIT and
// OFFSET take non-negative integers (literals or parameters) and apply
// after ORDER BY; without ORDER BY the rows come in the order of the FROM
// sources (by document id for a table scan). A unique index refuses a
// second live document with an equal (IndexKey) value of its field;
// documents without the field, or with NULL, are not constrained.

// OrderItem is one ORDER BY key. Pos is that of the ORDER keyword.
type OrderItem struct {
	Pos
	Expr Expr
	Desc bool
	// Nulls is 0 (the default: NULL and MISSING sort as the lowest
	// values), 'F' (NULLS FIRST) or 'L' (NULLS LAST).
	Nulls byte
}

// Extensions is implemented by a Tx whose ledger runs in the extension
// mode when PartiQLExtensions returns true.
type Extensions interface {
	PartiQLExtensions() bool
}

// UniqueIndexer is implemented by a Tx that can create unique indexes; the
// evaluator has checked what it checks for CreateIndex.
type UniqueIndexer interface {
	CreateUniqueIndex(tableID, field string) (indexID string, err error)
}

// extensions reports whether the statement runs in the extension mode.
func (c *execCtx) extensions() bool {
	x, ok := c.tx.(Extensions)
	return ok && x.PartiQLExtensions()
}

// extensionErr is the default mode's refusal of an extension.
func extensionErr(p Pos, what string) error {
	return unsupportedErr(p, "%s is not supported by QLDB PartiQL (it is a Strand extension: start the server with --partiql-extensions to allow it)", what)
}

// acceptUnique consumes the word UNIQUE (not a reserved word).
func (p *parser) acceptUnique() bool {
	if t := p.peek(); t.kind == tokIdent && strings.EqualFold(t.text, "UNIQUE") {
		p.i++
		return true
	}
	return false
}

// acceptWord consumes an unreserved word (case-insensitive).
func (p *parser) acceptWord(w string) bool {
	if t := p.peek(); t.kind == tokIdent && strings.EqualFold(t.text, w) {
		p.i++
		return true
	}
	return false
}

// selectTail parses [ORDER BY ...] [LIMIT e] [OFFSET e] into s.
func (p *parser) selectTail(s *SelectStmt) error {
	if kw := p.peek(); kw.kind == tokKeyword && kw.text == "ORDER" {
		p.i++
		if _, err := p.expectKw("BY", "after ORDER"); err != nil {
			return err
		}
		for {
			e, err := p.expr()
			if err != nil {
				return err
			}
			it := OrderItem{Pos: kw.pos, Expr: e}
			if p.acceptKw("DESC") {
				it.Desc = true
			} else {
				p.acceptKw("ASC")
			}
			if p.acceptWord("NULLS") {
				switch {
				case p.acceptWord("FIRST"):
					it.Nulls = 'F'
				case p.acceptWord("LAST"):
					it.Nulls = 'L'
				default:
					t := p.peek()
					return syntaxErr(t.pos, "expected FIRST or LAST after NULLS, found %s", t.describe())
				}
			}
			s.OrderBy = append(s.OrderBy, it)
			if !p.acceptPunct(",") {
				break
			}
		}
	}
	var err error
	if t := p.peek(); p.acceptKw("LIMIT") {
		s.LimitPos = t.pos
		if s.Limit, err = p.expr(); err != nil {
			return err
		}
	}
	if t := p.peek(); p.acceptKw("OFFSET") {
		s.OffsetPos = t.pos
		if s.Offset, err = p.expr(); err != nil {
			return err
		}
	}
	return nil
}

// checkSelectExtensions refuses ORDER BY, LIMIT and OFFSET in the default
// mode and checks their expressions' calls otherwise.
func (c *execCtx) checkSelectExtensions(st *SelectStmt) error {
	if len(st.OrderBy) == 0 && st.Limit == nil && st.Offset == nil {
		return nil
	}
	if !c.extensions() {
		switch {
		case len(st.OrderBy) > 0:
			return extensionErr(st.OrderBy[0].Pos, "ORDER BY")
		case st.Limit != nil:
			return extensionErr(st.LimitPos, "LIMIT")
		default:
			return extensionErr(st.OffsetPos, "OFFSET")
		}
	}
	for _, e := range []Expr{st.Limit, st.Offset} {
		if err := checkExprCalls(e); err != nil {
			return err
		}
	}
	for _, o := range st.OrderBy {
		if err := checkExprCalls(o.Expr); err != nil {
			return err
		}
	}
	return nil
}

// hasTail reports whether a SELECT has ORDER BY, LIMIT or OFFSET.
func (st *SelectStmt) hasTail() bool {
	return len(st.OrderBy) > 0 || st.Limit != nil || st.Offset != nil
}

// errTailDone stops a SELECT once LIMIT rows were emitted.
var errTailDone = errors.New("partiql: limit reached")

// tailCount evaluates LIMIT or OFFSET: a non-negative integer; -1 when e
// is nil.
func (c *execCtx) tailCount(e Expr, what string, outer *scope) (int64, error) {
	if e == nil {
		return -1, nil
	}
	v, err := c.eval(e, outer)
	if err != nil {
		return 0, err
	}
	if v == nil || v.IsNullValue() || v.Type != ion.IntType || v.BigInt != nil || v.Int < 0 {
		return 0, evalErr(e.Position(), "%s takes a non-negative integer, found %s", what, describeArg(v))
	}
	return v.Int, nil
}

// runTail runs a SELECT with ORDER BY, LIMIT or OFFSET, calling emit for
// each result row in order.
func (c *execCtx) runTail(pl *selectPlan, outer *scope, emit func(*ionvalue.Value) error) error {
	st := pl.stmt
	limit, err := c.tailCount(st.Limit, "LIMIT", outer)
	if err != nil {
		return err
	}
	offset, err := c.tailCount(st.Offset, "OFFSET", outer)
	if err != nil {
		return err
	}
	n := int64(0)
	take := func(v *ionvalue.Value) error {
		n++
		if offset > 0 && n <= offset {
			return nil
		}
		if limit >= 0 && n > max(offset, 0)+limit {
			return errTailDone
		}
		return emit(v)
	}
	if len(st.OrderBy) == 0 || len(pl.aggs) > 0 {
		err := c.runSelectBody(pl, outer, take)
		if errors.Is(err, errTailDone) {
			return nil
		}
		return err
	}
	type keyed struct {
		keys []*ionvalue.Value
		row  *ionvalue.Value
	}
	var rows []keyed
	var held int64
	defer func() { c.release(held) }()
	err = c.iterate(pl.levels, 0, outer, func(s *scope) error {
		row, err := c.project(st, len(pl.levels), s)
		if err != nil || row == nil {
			return err
		}
		ks := make([]*ionvalue.Value, len(st.OrderBy))
		for i, o := range st.OrderBy {
			if ks[i], err = c.eval(o.Expr, s); err != nil {
				return err
			}
			if ref, ok := o.Expr.(*VarRef); ok && ks[i] == nil && isStruct(row) {
				ks[i] = row.Get(ref.Name) // ORDER BY a SELECT-list alias
			}
		}
		for _, v := range append([]*ionvalue.Value{row}, ks...) {
			n, err := c.chargeValue(v)
			held += n
			if err != nil {
				return err
			}
		}
		rows = append(rows, keyed{ks, row})
		return nil
	})
	if err != nil {
		return err
	}
	sort.SliceStable(rows, func(i, j int) bool {
		for k, o := range st.OrderBy {
			if d := orderCompare(rows[i].keys[k], rows[j].keys[k], o); d != 0 {
				return d < 0
			}
		}
		return false
	})
	for _, r := range rows {
		if err := take(r.row); err != nil {
			if errors.Is(err, errTailDone) {
				return nil
			}
			return err
		}
	}
	return nil
}

// orderCompare compares two ORDER BY keys under o's direction and NULLS
// placement.
func orderCompare(a, b *ionvalue.Value, o OrderItem) int {
	an, bn := absent(a), absent(b)
	if o.Nulls != 0 && an != bn {
		if an == (o.Nulls == 'F') {
			return -1
		}
		return 1
	}
	d := compareTotal(a, b)
	if o.Desc {
		d = -d
	}
	return d
}

// createUniqueIndex runs CREATE UNIQUE INDEX once execCreateIndex checked
// the table and field.
func (c *execCtx) createUniqueIndex(st *CreateIndexStmt, t TableInfo) (string, error) {
	if !c.extensions() {
		return "", extensionErr(st.Pos, "CREATE UNIQUE INDEX")
	}
	u, ok := c.tx.(UniqueIndexer)
	if !ok {
		return "", unsupportedErr(st.Pos, "CREATE UNIQUE INDEX is not supported by this transaction")
	}
	return u.CreateUniqueIndex(t.ID, st.Field)
}
