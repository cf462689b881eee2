package partiql

import (
	"errors"
	"math/big"
	"strconv"
	"strings"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// Expression grammar, loosest binding first:
//
//	expr      = or
//	or        = and { OR and }
//	and       = not { AND not }
//	not       = NOT not | predicate
//	predicate = concat { compop concat | IS [NOT] type (typepred.go)
//	            | [NOT] IN ( '(' exprs ')' | postfix ) | [NOT] BETWEEN concat AND concat
//	            | [NOT] LIKE concat [ESCAPE concat] }
//	concat    = additive { '||' additive }
//	additive  = mult { (+|-) mult }
//	mult      = unary { (*|/|%) unary }
//	unary     = (-|+) unary | postfix
//	postfix   = primary { '.' name | '.' '*' | '[' expr ']' | '[' '*' ']' }

// enter and leave bound the recursion depth.
func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return syntaxErr(p.peek().pos, "expression nests too deeply (more than %d levels)", maxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// expr parses a full expression.
func (p *parser) expr() (Expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	return p.or()
}

func (p *parser) or() (Expr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.isKw("OR") {
		t := p.advance()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &Binary{Pos: t.pos, Op: "OR", L: l, R: r}
	}
	return l, nil
}

func (p *parser) and() (Expr, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.isKw("AND") {
		t := p.advance()
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = &Binary{Pos: t.pos, Op: "AND", L: l, R: r}
	}
	return l, nil
}

func (p *parser) not() (Expr, error) {
	if p.isKw("NOT") {
		t := p.advance()
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return &Unary{Pos: t.pos, Op: "NOT", X: x}, nil
	}
	return p.predicate()
}

var compOps = map[string]bool{"=": true, "<>": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true}

func (p *parser) predicate() (Expr, error) {
	l, err := p.concat()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		switch {
		case t.kind == tokPunct && compOps[t.text]:
			p.advance()
			r, err := p.concat()
			if err != nil {
				return nil, err
			}
			op := t.text
			if op == "!=" {
				op = "<>"
			}
			l = &Binary{Pos: t.pos, Op: op, L: l, R: r}
		case p.isKw("IS"):
			p.advance()
			not := p.acceptKw("NOT")
			typ, err := p.typeName("IS")
			if err != nil {
				return nil, err
			}
			l = &Is{Pos: t.pos, X: l, Type: typ, Not: not}
		case p.isKw("IN") || p.isKw("BETWEEN") || p.isKw("LIKE") ||
			(p.isKw("NOT") && p.peekAt(1).kind == tokKeyword &&
				(p.peekAt(1).text == "IN" || p.peekAt(1).text == "BETWEEN" || p.peekAt(1).text == "LIKE")):
			not := p.acceptKw("NOT")
			kw := p.advance()
			if l, err = p.predicateTail(kw, l, not); err != nil {
				return nil, err
			}
		default:
			return l, nil
		}
	}
}

// predicateTail parses what follows IN, BETWEEN or LIKE.
func (p *parser) predicateTail(kw token, l Expr, not bool) (Expr, error) {
	switch kw.text {
	case "IN":
		in := &In{Pos: kw.pos, X: l, Not: not}
		if p.isPunct("(") && !(p.peekAt(1).kind == tokKeyword && p.peekAt(1).text == "SELECT") {
			p.advance()
			if p.acceptPunct(")") {
				return in, nil
			}
			for {
				e, err := p.expr()
				if err != nil {
					return nil, err
				}
				in.List = append(in.List, e)
				if !p.acceptPunct(",") {
					break
				}
			}
			if _, err := p.expectPunct(")", "to close the IN list"); err != nil {
				return nil, err
			}
			return in, nil
		}
		c, err := p.postfix()
		if err != nil {
			return nil, err
		}
		in.Coll = c
		return in, nil
	case "BETWEEN":
		lo, err := p.concat()
		if err != nil {
			return nil, err
		}
		if _, err := p.expectKw("AND", "in BETWEEN ... AND ..."); err != nil {
			return nil, err
		}
		hi, err := p.concat()
		if err != nil {
			return nil, err
		}
		return &Between{Pos: kw.pos, X: l, Lo: lo, Hi: hi, Not: not}, nil
	default: // LIKE
		pat, err := p.concat()
		if err != nil {
			return nil, err
		}
		lk := &Like{Pos: kw.pos, X: l, Pattern: pat, Not: not}
		if p.acceptKw("ESCAPE") {
			if lk.Escape, err = p.concat(); err != nil {
				return nil, err
			}
		}
		return lk, nil
	}
}

// binaryLevel parses one left-associative level of binary operators.
func (p *parser) binaryLevel(ops []string, next func() (Expr, error)) (Expr, error) {
	l, err := next()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		matched := false
		if t.kind == tokPunct {
			for _, op := range ops {
				if t.text == op {
					matched = true
					break
				}
			}
		}
		if !matched {
			return l, nil
		}
		p.advance()
		r, err := next()
		if err != nil {
			return nil, err
		}
		l = &Binary{Pos: t.pos, Op: t.text, L: l, R: r}
	}
}

func (p *parser) concat() (Expr, error) {
	return p.binaryLevel([]string{"||"}, p.additive)
}

func (p *parser) additive() (Expr, error) {
	return p.binaryLevel([]string{"+", "-"}, p.mult)
}

func (p *parser) mult() (Expr, error) {
	return p.binaryLevel([]string{"*", "/", "%"}, p.unary)
}

func (p *parser) unary() (Expr, error) {
	t := p.peek()
	if t.kind == tokPunct && (t.text == "-" || t.text == "+") {
		p.advance()
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		// Fold -literal so that -5 is an int literal, as a reader expects.
		if lit, ok := x.(*Lit); ok && t.text == "-" {
			if v := negateLiteral(lit.Value); v != nil {
				return &Lit{Pos: t.pos, Value: v}, nil
			}
		}
		return &Unary{Pos: t.pos, Op: t.text, X: x}, nil
	}
	return p.postfix()
}

// postfix parses a primary followed by path steps.
func (p *parser) postfix() (Expr, error) {
	root, err := p.primary()
	if err != nil {
		return nil, err
	}
	var steps []PathStep
	for {
		t := p.peek()
		if p.acceptPunct(".") {
			n := p.peek()
			switch {
			case n.kind == tokIdent || n.kind == tokQuoted:
				p.advance()
				steps = append(steps, PathStep{Pos: n.pos, Kind: StepField, Name: n.text})
			case n.kind == tokKeyword:
				p.advance()
				steps = append(steps, PathStep{Pos: n.pos, Kind: StepField, Name: n.raw})
			case n.kind == tokPunct && n.text == "*":
				p.advance()
				steps = append(steps, PathStep{Pos: n.pos, Kind: StepAllFields})
			default:
				return nil, syntaxErr(n.pos, "expected a field name after '.', found %s", n.describe())
			}
			continue
		}
		if p.acceptPunct("[") {
			if p.acceptPunct("*") {
				steps = append(steps, PathStep{Pos: t.pos, Kind: StepAllElems})
			} else {
				ix, err := p.expr()
				if err != nil {
					return nil, err
				}
				steps = append(steps, PathStep{Pos: t.pos, Kind: StepIndex, Index: ix})
			}
			if _, err := p.expectPunct("]", "to close the path index"); err != nil {
				return nil, err
			}
			continue
		}
		break
	}
	if len(steps) == 0 {
		return root, nil
	}
	return &Path{Pos: root.Position(), Root: root, Steps: steps}, nil
}

// primary parses literals, names, calls, parentheses and constructors.
func (p *parser) primary() (Expr, error) {
	t := p.peek()
	switch t.kind {
	case tokInt, tokDecimal, tokFloat:
		p.advance()
		v, err := numberLiteral(t)
		if err != nil {
			return nil, err
		}
		return &Lit{Pos: t.pos, Value: v}, nil
	case tokString:
		p.advance()
		return &Lit{Pos: t.pos, Value: ionvalue.String(t.text)}, nil
	case tokIon:
		p.advance()
		v, err := ionvalue.DecodeOne([]byte(t.text))
		if errors.Is(err, ionvalue.ErrTooDeep) {
			return nil, syntaxErr(t.pos, "invalid Ion literal: Ion nesting depth exceeds the limit of %d", ionvalue.MaxDepth)
		}
		if errors.Is(err, ionvalue.ErrInvalidText) {
			return nil, syntaxErr(t.pos, "invalid Ion literal: text is not valid UTF-8")
		}
		if err != nil {
			return nil, syntaxErr(t.pos, "invalid Ion literal `%s`: %v", t.text, err)
		}
		return &Lit{Pos: t.pos, Value: v}, nil
	case tokParam:
		p.advance()
		p.nparams++
		return &Param{Pos: t.pos, Index: p.nparams - 1}, nil
	case tokIdent:
		p.advance()
		if p.isPunct("(") {
			return p.call(t)
		}
		return &VarRef{Pos: t.pos, Name: t.text}, nil
	case tokQuoted:
		p.advance()
		return &VarRef{Pos: t.pos, Name: t.text, Quoted: true}, nil
	case tokKeyword:
		switch t.text {
		case "TRUE", "FALSE":
			p.advance()
			return &Lit{Pos: t.pos, Value: ionvalue.Bool(t.text == "TRUE")}, nil
		case "NULL":
			p.advance()
			return &Lit{Pos: t.pos, Value: ionvalue.Null()}, nil
		case "MISSING":
			p.advance()
			return &Lit{Pos: t.pos, Value: nil}, nil
		case "CAST", "EXISTS":
			if n := p.peekAt(1); n.kind == tokPunct && n.text == "(" {
				p.advance()
				return p.call(t)
			}
			return nil, syntaxErr(t.pos, "expected '(' after %s", t.text)
		case "CASE":
			return nil, unsupportedErr(t.pos, "CASE is not supported by QLDB PartiQL (use COALESCE or NULLIF, or compute it in the application)")
		case "SELECT":
			return nil, unsupportedErr(t.pos, "a nested SELECT must be in parentheses")
		}
	case tokPunct:
		switch t.text {
		case "(":
			return p.parenthesised()
		case "{":
			return p.structExpr()
		case "[":
			p.advance()
			elems, err := p.exprList("]", "list")
			if err != nil {
				return nil, err
			}
			return &ListExpr{Pos: t.pos, Elems: elems}, nil
		case "<<":
			p.advance()
			elems, err := p.exprList(">>", "bag")
			if err != nil {
				return nil, err
			}
			return &BagExpr{Pos: t.pos, Elems: elems}, nil
		}
	}
	return nil, syntaxErr(t.pos, "expected an expression, found %s", t.describe())
}

// parenthesised parses ( expr ) or ( SELECT ... ).
func (p *parser) parenthesised() (Expr, error) {
	t := p.advance()
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	var e Expr
	if p.isKw("SELECT") {
		s, err := p.selectStmt()
		if err != nil {
			return nil, err
		}
		e = &SubqueryExpr{Pos: t.pos, Select: s}
	} else {
		var err error
		if e, err = p.expr(); err != nil {
			return nil, err
		}
	}
	if _, err := p.expectPunct(")", "to close '('"); err != nil {
		return nil, err
	}
	return e, nil
}

// call parses name( [* | expr, ...] ); the name token is already consumed.
func (p *parser) call(name token) (Expr, error) {
	p.advance() // (
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	c := &Call{Pos: name.pos, Name: strings.ToUpper(name.text)}
	if special, ok := specialCalls[c.Name]; ok {
		return special(p, c)
	}
	if p.acceptPunct("*") {
		c.Star = true
		if _, err := p.expectPunct(")", "after *"); err != nil {
			return nil, err
		}
		return c, nil
	}
	args, err := p.exprList(")", "argument list")
	if err != nil {
		return nil, err
	}
	c.Args = args
	return c, nil
}

// exprList parses expr, ... up to the closing punctuation (already past the
// opening one). An empty list is allowed.
func (p *parser) exprList(closing, what string) ([]Expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	var out []Expr
	if p.acceptPunct(closing) {
		return out, nil
	}
	for {
		e, err := p.expr()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
		if p.acceptPunct(",") {
			continue
		}
		if _, err := p.expectPunct(closing, "or ',' in the "+what); err != nil {
			return nil, err
		}
		return out, nil
	}
}

// structExpr parses { key: value, ... }.
func (p *parser) structExpr() (Expr, error) {
	t := p.advance()
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	s := &StructExpr{Pos: t.pos}
	if p.acceptPunct("}") {
		return s, nil
	}
	for {
		k, err := p.expr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expectPunct(":", "after the struct field name"); err != nil {
			return nil, err
		}
		v, err := p.expr()
		if err != nil {
			return nil, err
		}
		s.Fields = append(s.Fields, StructField{Key: k, Value: v})
		if p.acceptPunct(",") {
			continue
		}
		if _, err := p.expectPunct("}", "or ',' in the struct"); err != nil {
			return nil, err
		}
		return s, nil
	}
}

// numberLiteral converts a number token: ints to Ion int, 1.5 to Ion decimal,
// anything with an exponent to Ion float.
func numberLiteral(t token) (*ionvalue.Value, error) {
	switch t.kind {
	case tokInt:
		if n, err := strconv.ParseInt(t.text, 10, 64); err == nil {
			return ionvalue.Int(n), nil
		}
		b, ok := new(big.Int).SetString(t.text, 10)
		if !ok {
			return nil, syntaxErr(t.pos, "invalid integer %s", t.text)
		}
		return ionvalue.BigIntValue(b), nil
	case tokDecimal:
		d, err := ion.ParseDecimal(t.text)
		if err != nil {
			return nil, syntaxErr(t.pos, "invalid decimal %s", t.text)
		}
		return ionvalue.DecimalValue(d), nil
	default:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, syntaxErr(t.pos, "invalid float %s", t.text)
		}
		return ionvalue.Float(f), nil
	}
}

// negateLiteral returns -v for a numeric literal, nil for anything else.
func negateLiteral(v *ionvalue.Value) *ionvalue.Value {
	if v == nil || v.IsNull {
		return nil
	}
	switch v.Type {
	case ion.IntType:
		return ionvalue.BigIntValue(new(big.Int).Neg(bigOf(v)))
	case ion.DecimalType:
		return ionvalue.DecimalValue(v.Decimal.Neg())
	case ion.FloatType:
		return ionvalue.Float(-v.Float)
	}
	return nil
}
