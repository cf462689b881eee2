package partiql

import (
	"strings"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// Type names. The type predicate (x IS [NOT] type) and CAST (x AS type)
// accept the Ion type names QLDB documents, PartiQL's SQL spellings of them
// and a few SQL aliases; the parser stores the canonical name below.
//
// QLDB's data-types page names null, bool, int, decimal, float, timestamp,
// string, symbol, blob, clob, struct and list; PartiQL adds missing, sexp and
// bag. Ion has no bag: a bag (<< >>, a nested SELECT) evaluates to an Ion
// list, so "is a bag" is decided from the expression's form (see isBagExpr).
var typeNames = map[string]string{
	"NULL": "NULL", "MISSING": "MISSING",
	"BOOL": "BOOL", "BOOLEAN": "BOOL",
	"INT": "INT", "INTEGER": "INT", "SMALLINT": "INT", "INT4": "INT", "INT8": "INT", "BIGINT": "INT",
	"FLOAT": "FLOAT", "REAL": "FLOAT", "DOUBLE": "FLOAT",
	"DECIMAL": "DECIMAL", "NUMERIC": "DECIMAL",
	"TIMESTAMP": "TIMESTAMP",
	"SYMBOL":    "SYMBOL",
	"STRING":    "STRING", "VARCHAR": "STRING", "CHAR": "STRING", "CHARACTER": "STRING",
	"CLOB": "CLOB", "BLOB": "BLOB",
	"LIST": "LIST", "SEXP": "SEXP",
	"STRUCT": "STRUCT", "TUPLE": "STRUCT",
	"BAG": "BAG",
}

// typeName parses a type name after IS [NOT] or CAST ... AS: NULL and
// MISSING (keywords) or an identifier from typeNames, in any case. DOUBLE
// may be followed by PRECISION. It returns the canonical name.
func (p *parser) typeName(after string) (string, error) {
	t := p.peek()
	if t.kind == tokKeyword || t.kind == tokIdent {
		if canon, ok := typeNames[strings.ToUpper(t.text)]; ok {
			p.advance()
			if canon == "FLOAT" && strings.EqualFold(t.text, "DOUBLE") {
				if n := p.peek(); n.kind == tokIdent && strings.EqualFold(n.text, "PRECISION") {
					p.advance()
				} else {
					return "", syntaxErr(n.pos, "expected PRECISION after DOUBLE, found %s", n.describe())
				}
			}
			return canon, nil
		}
	}
	return "", syntaxErr(t.pos, "expected a type name after %s (NULL, MISSING, BOOLEAN, INT, FLOAT, DECIMAL, TIMESTAMP, SYMBOL, STRING, CLOB, BLOB, LIST, SEXP, STRUCT or BAG), found %s", after, t.describe())
}

// isBagExpr reports whether e, by its form, yields a bag: a << >>
// constructor, a nested SELECT, or CAST(... AS BAG).
func isBagExpr(e Expr) bool {
	switch e := e.(type) {
	case *BagExpr, *SubqueryExpr:
		return true
	case *Call:
		if e.Name == "CAST" && len(e.Args) == 2 {
			if lit, ok := e.Args[1].(*Lit); ok && isText(lit.Value) && lit.Value.Text == "BAG" {
				return true
			}
		}
	}
	return false
}

// evalIs evaluates x IS [NOT] type. IS NULL holds for NULL and MISSING, IS
// MISSING only for MISSING; every other type holds only for a value of that
// type that is not an Ion null (a typed null such as null.int is NULL, as in
// PartiQL). The predicate never yields NULL or MISSING.
func (c *execCtx) evalIs(e *Is, s *scope) (*ionvalue.Value, error) {
	x, err := c.eval(e.X, s)
	if err != nil {
		return nil, err
	}
	return boolVal(hasType(x, e.Type, isBagExpr(e.X)) != e.Not), nil
}

// hasType reports whether v is of the canonical type typ; bag tells that
// v came from a bag-valued expression.
func hasType(v *ionvalue.Value, typ string, bag bool) bool {
	switch typ {
	case "NULL":
		return absent(v)
	case "MISSING":
		return v == nil
	}
	if absent(v) {
		return false
	}
	switch typ {
	case "BOOL":
		return v.Type == ion.BoolType
	case "INT":
		return v.Type == ion.IntType
	case "FLOAT":
		return v.Type == ion.FloatType
	case "DECIMAL":
		return v.Type == ion.DecimalType
	case "TIMESTAMP":
		return v.Type == ion.TimestampType
	case "SYMBOL":
		return v.Type == ion.SymbolType
	case "STRING":
		return v.Type == ion.StringType
	case "CLOB":
		return v.Type == ion.ClobType
	case "BLOB":
		return v.Type == ion.BlobType
	case "LIST":
		return v.Type == ion.ListType && !bag
	case "SEXP":
		return v.Type == ion.SexpType
	case "STRUCT":
		return v.Type == ion.StructType
	case "BAG":
		return v.Type == ion.ListType && bag
	}
	return false
}
