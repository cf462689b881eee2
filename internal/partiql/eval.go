package partiql

import (
	"context"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// execCtx is the state of one Execute call.
type execCtx struct {
	ctx context.Context
	lim Limits
	// visited, lastCheck, mem, spent and lastSpendCheck are the
	// statement's budget accounts (see budget.go).
	visited, lastCheck, mem int64
	spent, lastSpendCheck   int64

	tx      Tx
	params  []*ionvalue.Value
	res     *Result
	scanned map[string]bool
	// aggs holds the final aggregate values while an aggregate query's
	// projection is evaluated; nil otherwise.
	aggs map[*Call]*ionvalue.Value
	// subplans caches the plans of nested SELECTs for this execution.
	subplans map[*SelectStmt]*selectPlan
}

// scope is one frame of variable bindings; frames chain outwards. A FROM
// level pushes a frame binding its alias, AT and BY names.
type scope struct {
	parent *scope
	names  []string
	vals   []*ionvalue.Value
	// row is the FROM level's value, searched for fields when a name is not
	// a variable (SELECT VALUE Name FROM T); nil for frames without one.
	row *ionvalue.Value
	// doc is the document a table level read (nil for other sources).
	doc *Document
}

// resolve looks name up: first as a variable in any enclosing frame
// (innermost first), then as a field of the FROM rows (innermost first).
// Unknown names are MISSING.
func (s *scope) resolve(name string) *ionvalue.Value {
	for f := s; f != nil; f = f.parent {
		for i, n := range f.names {
			if n == name {
				return f.vals[i]
			}
		}
	}
	for f := s; f != nil; f = f.parent {
		if isStruct(f.row) {
			if v, ok := fieldOf(f.row, name); ok {
				return v
			}
		}
	}
	return nil
}

// fieldOf returns the first field called name of a struct.
func fieldOf(v *ionvalue.Value, name string) (*ionvalue.Value, bool) {
	for _, f := range v.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return nil, false
}

// truthy reports whether a WHERE/ON condition value is TRUE (NULL, MISSING
// and non-booleans are not).
func truthy(v *ionvalue.Value) bool {
	return v != nil && !v.IsNull && v.Type == ion.BoolType && v.Bool
}

func isBool(v *ionvalue.Value) bool {
	return v != nil && !v.IsNull && v.Type == ion.BoolType
}

var (
	valTrue  = ionvalue.Bool(true)
	valFalse = ionvalue.Bool(false)
)

func boolVal(b bool) *ionvalue.Value {
	if b {
		return valTrue
	}
	return valFalse
}

// unknown is the result of a logical operation with a NULL or MISSING
// operand: MISSING if any operand is MISSING (or not a boolean), else NULL.
func unknown(vs ...*ionvalue.Value) *ionvalue.Value {
	for _, v := range vs {
		if v == nil || (!v.IsNullValue() && v.Type != ion.BoolType) {
			return nil
		}
	}
	return ionvalue.Null()
}

// eval evaluates an expression in a scope. A nil result is MISSING.
func (c *execCtx) eval(e Expr, s *scope) (*ionvalue.Value, error) {
	switch e := e.(type) {
	case *Lit:
		return e.Value, nil
	case *Param:
		return c.params[e.Index], nil
	case *VarRef:
		return s.resolve(e.Name), nil
	case *Path:
		return c.evalPath(e, s)
	case *Unary:
		x, err := c.eval(e.X, s)
		if err != nil {
			return nil, err
		}
		switch e.Op {
		case "NOT":
			if isBool(x) {
				return boolVal(!x.Bool), nil
			}
			return unknown(x), nil
		case "-":
			return negate(x), nil
		default:
			if x != nil && !isNull(x) && !isNumber(x) {
				return nil, nil
			}
			return x, nil
		}
	case *Binary:
		return c.evalBinary(e, s)
	case *In:
		return c.evalIn(e, s)
	case *Is:
		return c.evalIs(e, s)
	case *Between:
		return c.evalBetween(e, s)
	case *Like:
		return c.evalLike(e, s)
	case *Call:
		return c.evalCall(e, s)
	case *StructExpr:
		out := &ionvalue.Value{Type: ion.StructType}
		for _, f := range e.Fields {
			k, err := c.eval(f.Key, s)
			if err != nil {
				return nil, err
			}
			if !isText(k) {
				return nil, evalErr(f.Key.Position(), "a struct field name must be a string")
			}
			v, err := c.eval(f.Value, s)
			if err != nil {
				return nil, err
			}
			if v != nil {
				out.Fields = append(out.Fields, ionvalue.Field{Name: k.Text, Value: v})
			}
		}
		return c.built(out)
	case *ListExpr:
		return c.evalElems(e.Elems, s)
	case *BagExpr:
		return c.evalElems(e.Elems, s)
	case *SubqueryExpr:
		rows, err := c.subquery(e.Select, s)
		if err != nil {
			return nil, err
		}
		return ionvalue.List(rows...), nil
	}
	return nil, evalErr(e.Position(), "cannot evaluate this expression")
}

// evalElems builds a list; MISSING elements become null to keep positions.
func (c *execCtx) evalElems(es []Expr, s *scope) (*ionvalue.Value, error) {
	out := make([]*ionvalue.Value, len(es))
	for i, x := range es {
		v, err := c.eval(x, s)
		if err != nil {
			return nil, err
		}
		if v == nil {
			v = ionvalue.Null()
		}
		out[i] = v
	}
	return c.built(ionvalue.List(out...))
}

// evalPath walks path steps; any step that does not apply gives MISSING.
func (c *execCtx) evalPath(e *Path, s *scope) (*ionvalue.Value, error) {
	v, err := c.eval(e.Root, s)
	if err != nil {
		return nil, err
	}
	for _, st := range e.Steps {
		if v == nil {
			return nil, nil
		}
		switch st.Kind {
		case StepField:
			if !isStruct(v) {
				return nil, nil
			}
			v, _ = fieldOf(v, st.Name)
		case StepIndex:
			ix, err := c.eval(st.Index, s)
			if err != nil {
				return nil, err
			}
			v = indexStep(v, ix)
		default:
			return nil, unsupportedErr(st.Pos, "wildcard path steps are only supported as the last step of a SELECT item (x.*)")
		}
	}
	return v, nil
}

// indexStep applies v[ix]: an int indexes a list or sexp, text names a
// struct field; anything else is MISSING.
func indexStep(v, ix *ionvalue.Value) *ionvalue.Value {
	switch {
	case isSeq(v) && !absent(ix) && ix.Type == ion.IntType:
		if ix.BigInt != nil || ix.Int < 0 || ix.Int >= int64(len(v.Elems)) {
			return nil
		}
		return v.Elems[ix.Int]
	case isStruct(v) && isText(ix):
		f, _ := fieldOf(v, ix.Text)
		return f
	}
	return nil
}

func (c *execCtx) evalBinary(e *Binary, s *scope) (*ionvalue.Value, error) {
	l, err := c.eval(e.L, s)
	if err != nil {
		return nil, err
	}
	switch e.Op {
	case "AND":
		if isBool(l) && !l.Bool {
			return valFalse, nil
		}
	case "OR":
		if isBool(l) && l.Bool {
			return valTrue, nil
		}
	}
	r, err := c.eval(e.R, s)
	if err != nil {
		return nil, err
	}
	switch e.Op {
	case "AND":
		switch {
		case isBool(r) && !r.Bool:
			return valFalse, nil
		case isBool(l) && isBool(r):
			return valTrue, nil
		}
		return unknown(l, r), nil
	case "OR":
		switch {
		case isBool(r) && r.Bool:
			return valTrue, nil
		case isBool(l) && isBool(r):
			return valFalse, nil
		}
		return unknown(l, r), nil
	case "+", "-", "*", "/", "%":
		return arith(e.Pos, e.Op, l, r)
	case "||":
		return c.concat(l, r)
	}
	return compareOp(e.Op, l, r), nil
}

// compareOp applies = <> < <= > >= with NULL/MISSING propagation.
func compareOp(op string, l, r *ionvalue.Value) *ionvalue.Value {
	switch {
	case l == nil || r == nil:
		return nil
	case isNull(l) || isNull(r):
		return ionvalue.Null()
	}
	switch op {
	case "=":
		return boolVal(valuesEqual(l, r))
	case "<>":
		return boolVal(!valuesEqual(l, r))
	}
	cmp, ok := compareOrdered(l, r)
	if !ok {
		return nil
	}
	switch op {
	case "<":
		return boolVal(cmp < 0)
	case "<=":
		return boolVal(cmp <= 0)
	case ">":
		return boolVal(cmp > 0)
	default:
		return boolVal(cmp >= 0)
	}
}

// inCandidates evaluates the right side of IN to a list of candidates.
// ok is false when the collection itself is NULL or MISSING (result given).
func (c *execCtx) inCandidates(e *In, s *scope) ([]*ionvalue.Value, *ionvalue.Value, bool, error) {
	if e.Coll != nil {
		coll, err := c.eval(e.Coll, s)
		if err != nil {
			return nil, nil, false, err
		}
		switch {
		case coll == nil:
			return nil, nil, false, nil
		case isNull(coll):
			return nil, ionvalue.Null(), false, nil
		case isSeq(coll):
			return coll.Elems, nil, true, nil
		case isStruct(coll):
			out := make([]*ionvalue.Value, len(coll.Fields))
			for i, f := range coll.Fields {
				out[i] = f.Value
			}
			return out, nil, true, nil
		}
		return []*ionvalue.Value{coll}, nil, true, nil
	}
	out := make([]*ionvalue.Value, 0, len(e.List))
	for _, x := range e.List {
		v, err := c.eval(x, s)
		if err != nil {
			return nil, nil, false, err
		}
		out = append(out, v)
	}
	// x IN (?) with a list parameter means x IN that list.
	if len(out) == 1 && isSeq(out[0]) {
		out = out[0].Elems
	}
	return out, nil, true, nil
}

func (c *execCtx) evalIn(e *In, s *scope) (*ionvalue.Value, error) {
	x, err := c.eval(e.X, s)
	if err != nil {
		return nil, err
	}
	cands, res, ok, err := c.inCandidates(e, s)
	if err != nil || !ok {
		return res, err
	}
	if x == nil {
		return nil, nil
	}
	if isNull(x) {
		return ionvalue.Null(), nil
	}
	sawNull := false
	for _, cand := range cands {
		if absent(cand) {
			sawNull = true
			continue
		}
		if valuesEqual(x, cand) {
			return boolVal(!e.Not), nil
		}
	}
	if sawNull {
		return ionvalue.Null(), nil
	}
	return boolVal(e.Not), nil
}

func (c *execCtx) evalBetween(e *Between, s *scope) (*ionvalue.Value, error) {
	x, err := c.eval(e.X, s)
	if err != nil {
		return nil, err
	}
	lo, err := c.eval(e.Lo, s)
	if err != nil {
		return nil, err
	}
	hi, err := c.eval(e.Hi, s)
	if err != nil {
		return nil, err
	}
	ge := compareOp(">=", x, lo)
	le := compareOp("<=", x, hi)
	var r *ionvalue.Value
	switch {
	case isBool(ge) && !ge.Bool, isBool(le) && !le.Bool:
		r = valFalse
	case isBool(ge) && isBool(le):
		r = valTrue
	default:
		return unknown(ge, le), nil
	}
	if e.Not {
		return boolVal(!r.Bool), nil
	}
	return r, nil
}

func (c *execCtx) evalLike(e *Like, s *scope) (*ionvalue.Value, error) {
	x, err := c.eval(e.X, s)
	if err != nil {
		return nil, err
	}
	pat, err := c.eval(e.Pattern, s)
	if err != nil {
		return nil, err
	}
	var esc *ionvalue.Value
	if e.Escape != nil {
		if esc, err = c.eval(e.Escape, s); err != nil {
			return nil, err
		}
		if esc == nil {
			return nil, nil
		}
	}
	switch {
	case x == nil || pat == nil:
		return nil, nil
	case isNull(x) || isNull(pat) || isNull(esc):
		return ionvalue.Null(), nil
	case !isText(x) || !isText(pat) || (esc != nil && !isText(esc)):
		return nil, nil
	}
	escRune := rune(-1)
	if esc != nil {
		rs := []rune(esc.Text)
		if len(rs) != 1 {
			return nil, evalErr(e.Escape.Position(), "the LIKE escape must be exactly one character")
		}
		escRune = rs[0]
	}
	m, ok, err := likeMatch([]rune(x.Text), []rune(pat.Text), escRune, c.spend)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, evalErr(e.Pattern.Position(), "invalid LIKE pattern: the escape character must precede '%%', '_' or itself")
	}
	return boolVal(m != e.Not), nil
}

// likeMatch matches s against a LIKE pattern (% any run, _ any one
// character, esc quoting the next character). ok is false for a pattern
// ending in a lone escape. Its time is at worst len(s)·len(pat) steps; it
// reports them to spend in batches and stops with spend's error.
func likeMatch(s, pat []rune, esc rune, spend func(steps int64) error) (match, ok bool, err error) {
	type elem struct {
		r    rune
		kind byte // 'l' literal, '_' one, '%' many
	}
	var ps []elem
	for i := 0; i < len(pat); i++ {
		switch r := pat[i]; {
		case r == esc:
			if i+1 >= len(pat) {
				return false, false, nil
			}
			i++
			ps = append(ps, elem{pat[i], 'l'})
		case r == '%':
			ps = append(ps, elem{kind: '%'})
		case r == '_':
			ps = append(ps, elem{kind: '_'})
		default:
			ps = append(ps, elem{r, 'l'})
		}
	}
	// Classic wildcard matching with backtracking to the last %.
	const batch = 4096
	si, pi, star, mark, steps := 0, 0, -1, 0, 0
	for si < len(s) {
		if steps++; steps == batch {
			if err := spend(batch); err != nil {
				return false, true, err
			}
			steps = 0
		}
		switch {
		case pi < len(ps) && (ps[pi].kind == '_' || (ps[pi].kind == 'l' && ps[pi].r == s[si])):
			si++
			pi++
		case pi < len(ps) && ps[pi].kind == '%':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false, true, nil
		}
	}
	for pi < len(ps) && ps[pi].kind == '%' {
		pi++
	}
	return pi == len(ps), true, nil
}
