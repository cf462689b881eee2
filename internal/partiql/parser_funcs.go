package partiql

import (
	"strings"

	"github.com/strand-db/strand/internal/ionvalue"
)

// Functions with SQL's keyword-argument syntax. The parser turns each into
// a plain *Call whose extra words become string literals, so that the
// evaluator, the planner and walkExpr need nothing special:
//
//	CAST(x AS type)                         CAST(x, 'TYPE')      (canonical type name)
//	EXTRACT(part FROM t)                    EXTRACT('part', t)   (part lower-cased)
//	TRIM([[BOTH|LEADING|TRAILING] [c] FROM] s)  TRIM('spec', c, s)   (c defaults to ' ')
//	SUBSTRING(s FROM a [FOR n])             SUBSTRING(s, a [, n])
//	DATE_ADD(part, n, t), DATE_DIFF(part, t1, t2)  first argument 'part'
//	EXISTS(SELECT ...)                      EXISTS((SELECT ...))
//
// A special form is entered with the '(' consumed and c's name set.

// specialCalls maps an upper-cased function name to its argument parser
// (filled in by init: the parsers call back into expr, which uses the map).
var specialCalls map[string]func(p *parser, c *Call) (Expr, error)

func init() {
	specialCalls = map[string]func(*parser, *Call) (Expr, error){
		"CAST":      (*parser).castArgs,
		"EXTRACT":   (*parser).extractArgs,
		"TRIM":      (*parser).trimArgs,
		"SUBSTRING": (*parser).substringArgs,
		"DATE_ADD":  (*parser).datePartArgs,
		"DATE_DIFF": (*parser).datePartArgs,
		"EXISTS":    (*parser).existsArgs,
	}
}

// strLit is a string literal at pos.
func strLit(pos Pos, s string) *Lit { return &Lit{Pos: pos, Value: ionvalue.String(s)} }

// closeCall expects the ')' that ends c.
func (p *parser) closeCall(c *Call) (Expr, error) {
	if _, err := p.expectPunct(")", "to close "+c.Name+"("); err != nil {
		return nil, err
	}
	return c, nil
}

func (p *parser) castArgs(c *Call) (Expr, error) {
	x, err := p.expr()
	if err != nil {
		return nil, err
	}
	if _, err := p.expectKw("AS", "in CAST(value AS type)"); err != nil {
		return nil, err
	}
	tpos := p.peek().pos
	typ, err := p.typeName("AS in CAST")
	if err != nil {
		return nil, err
	}
	c.Args = []Expr{x, strLit(tpos, typ)}
	return p.closeCall(c)
}

// extractParts are EXTRACT's date parts.
var extractParts = map[string]bool{
	"year": true, "month": true, "day": true, "hour": true, "minute": true, "second": true,
	"timezone_hour": true, "timezone_minute": true,
}

// datePartsAdd are DATE_ADD's and DATE_DIFF's date parts.
var datePartsAdd = map[string]bool{
	"year": true, "month": true, "day": true, "hour": true, "minute": true, "second": true,
}

// datePart parses a date part word from parts.
func (p *parser) datePart(c *Call, parts map[string]bool, list string) (*Lit, error) {
	t := p.peek()
	if t.kind == tokIdent && parts[strings.ToLower(t.text)] {
		p.advance()
		return strLit(t.pos, strings.ToLower(t.text)), nil
	}
	return nil, syntaxErr(t.pos, "expected a date part (%s) as the first argument of %s, found %s", list, c.Name, t.describe())
}

func (p *parser) extractArgs(c *Call) (Expr, error) {
	part, err := p.datePart(c, extractParts, "year, month, day, hour, minute, second, timezone_hour or timezone_minute")
	if err != nil {
		return nil, err
	}
	if _, err := p.expectKw("FROM", "in EXTRACT(part FROM timestamp)"); err != nil {
		return nil, err
	}
	x, err := p.expr()
	if err != nil {
		return nil, err
	}
	c.Args = []Expr{part, x}
	return p.closeCall(c)
}

func (p *parser) datePartArgs(c *Call) (Expr, error) {
	part, err := p.datePart(c, datePartsAdd, "year, month, day, hour, minute or second")
	if err != nil {
		return nil, err
	}
	c.Args = []Expr{part}
	for range 2 {
		if _, err := p.expectPunct(",", "between the arguments of "+c.Name); err != nil {
			return nil, err
		}
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		c.Args = append(c.Args, x)
	}
	return p.closeCall(c)
}

// startsExpr reports whether t can begin an expression (used to tell
// TRIM(BOTH 'x' FROM s) from a field called both).
func startsExpr(t token) bool {
	switch t.kind {
	case tokIdent, tokQuoted, tokString, tokInt, tokDecimal, tokFloat, tokIon, tokParam:
		return true
	case tokKeyword:
		switch t.text {
		case "TRUE", "FALSE", "NULL", "MISSING", "CAST", "EXISTS", "NOT":
			return true
		}
	case tokPunct:
		switch t.text {
		case "(", "[", "{", "<<", "-", "+":
			return true
		}
	}
	return false
}

func (p *parser) trimArgs(c *Call) (Expr, error) {
	spec := strLit(c.Pos, "BOTH")
	if p.acceptKw("FROM") { // TRIM(FROM s)
		s, err := p.expr()
		if err != nil {
			return nil, err
		}
		c.Args = []Expr{spec, strLit(c.Pos, " "), s}
		return p.closeCall(c)
	}
	if t := p.peek(); t.kind == tokIdent {
		up := strings.ToUpper(t.text)
		if (up == "BOTH" || up == "LEADING" || up == "TRAILING") &&
			(p.peekAt(1).kind == tokKeyword && p.peekAt(1).text == "FROM" || startsExpr(p.peekAt(1))) {
			p.advance()
			spec = strLit(t.pos, up)
			var chars Expr = strLit(t.pos, " ")
			if !p.acceptKw("FROM") {
				var err error
				if chars, err = p.expr(); err != nil {
					return nil, err
				}
				if _, err := p.expectKw("FROM", "after the characters to trim"); err != nil {
					return nil, err
				}
			}
			s, err := p.expr()
			if err != nil {
				return nil, err
			}
			c.Args = []Expr{spec, chars, s}
			return p.closeCall(c)
		}
	}
	first, err := p.expr()
	if err != nil {
		return nil, err
	}
	if !p.acceptKw("FROM") {
		c.Args = []Expr{spec, strLit(c.Pos, " "), first}
		return p.closeCall(c)
	}
	s, err := p.expr()
	if err != nil {
		return nil, err
	}
	c.Args = []Expr{spec, first, s}
	return p.closeCall(c)
}

func (p *parser) substringArgs(c *Call) (Expr, error) {
	s, err := p.expr()
	if err != nil {
		return nil, err
	}
	c.Args = []Expr{s}
	if p.acceptKw("FROM") {
		start, err := p.expr()
		if err != nil {
			return nil, err
		}
		c.Args = append(c.Args, start)
		if t := p.peek(); t.kind == tokIdent && strings.EqualFold(t.text, "FOR") {
			p.advance()
			n, err := p.expr()
			if err != nil {
				return nil, err
			}
			c.Args = append(c.Args, n)
		}
		return p.closeCall(c)
	}
	for p.acceptPunct(",") {
		x, err := p.expr()
		if err != nil {
			return nil, err
		}
		c.Args = append(c.Args, x)
	}
	return p.closeCall(c)
}

func (p *parser) existsArgs(c *Call) (Expr, error) {
	if p.isKw("SELECT") {
		t := p.peek()
		s, err := p.selectStmt()
		if err != nil {
			return nil, err
		}
		c.Args = []Expr{&SubqueryExpr{Pos: t.pos, Select: s}}
		return p.closeCall(c)
	}
	args, err := p.exprList(")", "argument list")
	if err != nil {
		return nil, err
	}
	c.Args = args
	return c, nil
}
