package partiql

import (
	"strings"
)

// Planning turns FROM items into levels of a nested loop and picks, for each
// table level, the narrowest read its WHERE/ON conjuncts allow:
//
//   - Get by document id when a conjunct is `byVar = e` (or, on the
//     committed view, `alias.metadata.id = e`), or `byVar IN (e, ...)`;
//   - Lookup on an ONLINE index when a conjunct is `alias.field = e` (or an
//     unqualified `field = e` when there is one FROM item, or
//     `alias.data.field = e` on the committed view), or `... IN (e, ...)`;
//   - Scan otherwise.
//
// e must be computable before the level is read: literals, parameters and
// variables of earlier levels (so a join probes the inner table's index once
// per outer row). Each conjunct is also evaluated as soon as every variable
// it names is bound, which prunes nested loops early. The full condition
// still holds for every produced row: index reads only narrow the input.

const committedPrefix = "_ql_committed_"

type srcKind int

const (
	srcTable     srcKind = iota // user view of a table
	srcCommitted                // _ql_committed_<table>
	srcHistory                  // history(table [, start [, end]])
	srcCatalog                  // information_schema.user_tables
	srcExpr                     // any other expression (unnesting a path...)
)

type accessKind int

const (
	accScan accessKind = iota
	accGet
	accLookup
)

// access is how a table level reads its documents.
type access struct {
	kind  accessKind
	field string // accLookup
	keys  []Expr // accGet/accLookup: one per = or per IN element
	in    bool   // keys come from IN (...)
}

// fromPlan is one level of the nested loop.
type fromPlan struct {
	item     *FromItem
	kind     srcKind
	table    TableInfo
	alias    string   // explicit AS, or the default alias
	names    []string // variables bound here: alias, AT, BY (non-empty ones)
	access   access
	histArgs []Expr // history() start and end expressions
	conds    []Expr // conjuncts checked once this level is bound
}

// planFrom plans FROM items with the conjuncts of where and of JOIN ... ON.
// outer lists the names bound by enclosing queries.
func (c *execCtx) planFrom(items []*FromItem, where Expr, outer []string) ([]*fromPlan, error) {
	levels := make([]*fromPlan, len(items))
	levelOf := map[string]int{}
	explicit := map[string]bool{} // names a bare FROM source may refer to
	for _, n := range outer {
		levelOf[n] = -1
		explicit[n] = true
	}
	for i, it := range items {
		lv, err := c.resolveSource(it, levelOf, explicit)
		if err != nil {
			return nil, err
		}
		if it.By != "" && lv.kind != srcTable && lv.kind != srcCommitted {
			return nil, semanticErr(it.Pos, "BY %s: BY can only name the document id of a table", it.By)
		}
		for _, n := range []string{lv.alias, it.At, it.By} {
			if n != "" {
				lv.names = append(lv.names, n)
				levelOf[n] = i
			}
		}
		for _, n := range []string{it.As, it.At, it.By} {
			if n != "" {
				explicit[n] = true
			}
		}
		levels[i] = lv
	}
	var conj []Expr
	conj = splitAnd(where, conj)
	for _, it := range items {
		conj = splitAnd(it.On, conj)
	}
	for i, lv := range levels {
		switch lv.kind {
		case srcTable, srcCommitted, srcHistory:
			lv.access = planAccess(lv, i, len(levels), conj, levelOf)
		}
	}
	for _, e := range conj {
		l := conjLevel(e, levelOf, len(levels))
		levels[l].conds = append(levels[l].conds, e)
	}
	return levels, nil
}

// resolveSource classifies a FROM source and resolves table names. A bare
// name is a variable (unnesting) only when an earlier item or an enclosing
// query bound it explicitly (AS, AT, BY): FROM T, T is a self-join.
func (c *execCtx) resolveSource(it *FromItem, levelOf map[string]int, explicit map[string]bool) (*fromPlan, error) {
	lv := &fromPlan{item: it, kind: srcExpr, alias: it.As}
	switch src := it.Source.(type) {
	case *VarRef:
		if lv.alias == "" {
			lv.alias = src.Name
		}
		if explicit[src.Name] {
			return lv, nil
		}
		name, kind := src.Name, srcTable
		if rest, ok := strings.CutPrefix(name, committedPrefix); ok && rest != "" {
			name, kind = rest, srcCommitted
		}
		t, ok := c.tx.Table(name)
		if !ok {
			return nil, noSuchVariable(src.Pos, src.Name)
		}
		lv.kind, lv.table = kind, t
	case *Path:
		if last := src.Steps[len(src.Steps)-1]; lv.alias == "" && last.Kind == StepField {
			lv.alias = last.Name
		}
		root, ok := src.Root.(*VarRef)
		if !ok {
			return lv, nil
		}
		if _, bound := levelOf[root.Name]; bound {
			return lv, nil
		}
		if root.Name == "information_schema" && len(src.Steps) == 1 && src.Steps[0].Kind == StepField &&
			src.Steps[0].Name == "user_tables" {
			lv.kind = srcCatalog
			return lv, nil
		}
		return nil, noSuchVariable(root.Pos, root.Name)
	case *Call:
		if src.Name != "HISTORY" {
			return lv, checkExprCalls(src)
		}
		if src.Star || len(src.Args) < 1 || len(src.Args) > 3 {
			return nil, semanticErr(src.Pos, "history() takes a table name or id, then an optional start and end time")
		}
		switch a := src.Args[0].(type) {
		case *VarRef:
			t, ok := c.tx.Table(a.Name)
			if !ok {
				return nil, noSuchVariable(a.Pos, a.Name)
			}
			lv.table = t
		case *Lit:
			if !isText(a.Value) {
				return nil, semanticErr(a.Pos, "history() expects a table name or a table id string")
			}
			t, ok := c.tx.TableByID(a.Value.Text)
			if !ok {
				return nil, noSuchVariable(a.Pos, a.Value.Text)
			}
			lv.table = t
		default:
			return nil, semanticErr(a.Position(), "history() expects a table name or a table id string")
		}
		for _, a := range src.Args[1:] {
			if err := checkExprCalls(a); err != nil {
				return nil, err
			}
		}
		lv.kind, lv.histArgs = srcHistory, src.Args[1:]
	default:
		if err := checkExprCalls(it.Source); err != nil {
			return nil, err
		}
	}
	return lv, nil
}

// splitAnd appends the top-level AND conjuncts of e.
func splitAnd(e Expr, out []Expr) []Expr {
	if e == nil {
		return out
	}
	if b, ok := e.(*Binary); ok && b.Op == "AND" {
		return splitAnd(b.R, splitAnd(b.L, out))
	}
	return append(out, e)
}

// walkExpr calls fn on e and its sub-expressions (depth first) while fn
// returns true for the node. It does not enter subqueries.
func walkExpr(e Expr, fn func(Expr) bool) {
	if e == nil || !fn(e) {
		return
	}
	switch e := e.(type) {
	case *Path:
		walkExpr(e.Root, fn)
		for _, s := range e.Steps {
			walkExpr(s.Index, fn)
		}
	case *Unary:
		walkExpr(e.X, fn)
	case *Binary:
		walkExpr(e.L, fn)
		walkExpr(e.R, fn)
	case *In:
		walkExpr(e.X, fn)
		walkExpr(e.Coll, fn)
		for _, x := range e.List {
			walkExpr(x, fn)
		}
	case *Is:
		walkExpr(e.X, fn)
	case *Between:
		walkExpr(e.X, fn)
		walkExpr(e.Lo, fn)
		walkExpr(e.Hi, fn)
	case *Like:
		walkExpr(e.X, fn)
		walkExpr(e.Pattern, fn)
		walkExpr(e.Escape, fn)
	case *Call:
		for _, a := range e.Args {
			walkExpr(a, fn)
		}
	case *StructExpr:
		for _, f := range e.Fields {
			walkExpr(f.Key, fn)
			walkExpr(f.Value, fn)
		}
	case *ListExpr:
		for _, x := range e.Elems {
			walkExpr(x, fn)
		}
	case *BagExpr:
		for _, x := range e.Elems {
			walkExpr(x, fn)
		}
	}
}

// checkExprCalls validates every function call in e (outside subqueries),
// rejecting aggregates: they are only allowed in a SELECT list.
func checkExprCalls(e Expr) error {
	var err error
	walkExpr(e, func(x Expr) bool {
		if err != nil {
			return false
		}
		if call, ok := x.(*Call); ok {
			if aggregateFuncs[call.Name] {
				err = semanticErr(call.Pos, "aggregate function %s is only allowed in the SELECT list", call.Name)
				return false
			}
			err = checkCall(call)
		}
		return err == nil
	})
	return err
}

// conjLevel is the first level at which every variable e names is bound; a
// name that is no variable (an implicit field) or a subquery puts e last.
func conjLevel(e Expr, levelOf map[string]int, n int) int {
	level := 0
	walkExpr(e, func(x Expr) bool {
		switch x := x.(type) {
		case *VarRef:
			l, ok := levelOf[x.Name]
			if !ok {
				level = n - 1
			} else if l > level {
				level = l
			}
		case *SubqueryExpr:
			level = n - 1
		}
		return true
	})
	return level
}

// available reports whether e can be computed before level i is read.
func available(e Expr, i int, levelOf map[string]int) bool {
	ok := true
	walkExpr(e, func(x Expr) bool {
		switch x := x.(type) {
		case *VarRef:
			if l, bound := levelOf[x.Name]; !bound || l >= i {
				ok = false
			}
		case *SubqueryExpr:
			ok = false
		case *Call:
			if aggregateFuncs[x.Name] {
				ok = false
			}
		}
		return ok
	})
	return ok
}

// fieldPath returns the field names e reads from level i's row: a.b.c with
// a the level's alias gives [b c]; an unbound name n (an implicit field,
// only when there is a single level) gives [n ...].
func fieldPath(e Expr, lv *fromPlan, single bool, levelOf map[string]int) ([]string, bool) {
	var root *VarRef
	var steps []PathStep
	switch e := e.(type) {
	case *VarRef:
		root = e
	case *Path:
		r, ok := e.Root.(*VarRef)
		if !ok {
			return nil, false
		}
		root, steps = r, e.Steps
	default:
		return nil, false
	}
	var out []string
	if root.Name != lv.alias || lv.alias == "" {
		if _, bound := levelOf[root.Name]; bound || !single {
			return nil, false
		}
		out = append(out, root.Name)
	}
	for _, s := range steps {
		switch {
		case s.Kind == StepField:
			out = append(out, s.Name)
		case s.Kind == StepIndex:
			lit, ok := s.Index.(*Lit)
			if !ok || !isText(lit.Value) {
				return nil, false
			}
			out = append(out, lit.Value.Text)
		default:
			return nil, false
		}
	}
	return out, true
}

// keyTarget tells which read a key expression on level i allows.
func keyTarget(e Expr, lv *fromPlan, single bool, levelOf map[string]int) (accessKind, string) {
	if v, ok := e.(*VarRef); ok && lv.item.By != "" && v.Name == lv.item.By {
		return accGet, ""
	}
	path, ok := fieldPath(e, lv, single, levelOf)
	if !ok {
		return accScan, ""
	}
	switch lv.kind {
	case srcCommitted, srcHistory:
		if len(path) == 2 && path[0] == "metadata" && path[1] == "id" {
			return accGet, ""
		}
		if lv.kind == srcCommitted && len(path) == 2 && path[0] == "data" {
			path = path[1:]
		} else {
			return accScan, ""
		}
	}
	if len(path) != 1 {
		return accScan, ""
	}
	for _, ix := range lv.table.Indexes {
		if ix.Field == path[0] && ix.Status == IndexOnline {
			return accLookup, path[0]
		}
	}
	return accScan, ""
}

// planAccess picks level i's read from the conjuncts. History levels only
// use accGet (a document id filter).
func planAccess(lv *fromPlan, i, n int, conj []Expr, levelOf map[string]int) access {
	var best access
	for _, e := range conj {
		var target Expr
		var keys []Expr
		in := false
		switch e := e.(type) {
		case *Binary:
			if e.Op != "=" {
				continue
			}
			if k, _ := keyTarget(e.L, lv, n == 1, levelOf); k != accScan && available(e.R, i, levelOf) {
				target, keys = e.L, []Expr{e.R}
			} else if k, _ := keyTarget(e.R, lv, n == 1, levelOf); k != accScan && available(e.L, i, levelOf) {
				target, keys = e.R, []Expr{e.L}
			}
		case *In:
			if e.Not || e.Coll != nil || len(e.List) == 0 {
				continue
			}
			all := true
			for _, x := range e.List {
				all = all && available(x, i, levelOf)
			}
			if all {
				target, keys, in = e.X, e.List, true
			}
		}
		if target == nil {
			continue
		}
		kind, field := keyTarget(target, lv, n == 1, levelOf)
		if kind == accGet {
			return access{kind: accGet, keys: keys, in: in}
		}
		if kind == accLookup && best.kind == accScan && lv.kind != srcHistory {
			best = access{kind: accLookup, field: field, keys: keys, in: in}
		}
	}
	return best
}
