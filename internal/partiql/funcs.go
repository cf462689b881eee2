package partiql

import (
	"strings"
	"unicode/utf8"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// Functions. Scalar functions live in scalarFuncs; aggregate functions are
// computed by aggState over the rows of a query with no GROUP BY. A later
// change adds the rest of QLDB's list (DATE_ADD, SUBSTRING, CAST...) by
// adding entries here.

// aggregateFuncs names the aggregate functions.
var aggregateFuncs = map[string]bool{"COUNT": true, "SUM": true, "MIN": true, "MAX": true, "AVG": true}

// scalarFunc is a scalar function: it gets its evaluated arguments.
type scalarFunc struct {
	minArgs, maxArgs int // maxArgs < 0: variadic
	// nullCall: when true, any NULL or MISSING argument makes the result
	// NULL without calling fn.
	nullCall bool
	fn       func(c *execCtx, call *Call, args []*ionvalue.Value) (*ionvalue.Value, error)
}

var scalarFuncs = map[string]scalarFunc{
	"TXID": {0, 0, false, func(c *execCtx, _ *Call, _ []*ionvalue.Value) (*ionvalue.Value, error) {
		return ionvalue.String(c.tx.TxID()), nil
	}},
	"UPPER": {1, 1, true, textFunc(strings.ToUpper)},
	"LOWER": {1, 1, true, textFunc(strings.ToLower)},
	"CHAR_LENGTH": {1, 1, true, func(_ *execCtx, call *Call, a []*ionvalue.Value) (*ionvalue.Value, error) {
		if !isText(a[0]) {
			return nil, evalErr(call.Pos, "%s expects a string", call.Name)
		}
		return ionvalue.Int(int64(utf8.RuneCountInString(a[0].Text))), nil
	}},
	"SIZE": {1, 1, true, func(_ *execCtx, call *Call, a []*ionvalue.Value) (*ionvalue.Value, error) {
		switch {
		case isSeq(a[0]):
			return ionvalue.Int(int64(len(a[0].Elems))), nil
		case isStruct(a[0]):
			return ionvalue.Int(int64(len(a[0].Fields))), nil
		}
		return nil, evalErr(call.Pos, "SIZE expects a list, bag or struct")
	}},
	"COALESCE": {1, -1, false, func(_ *execCtx, _ *Call, a []*ionvalue.Value) (*ionvalue.Value, error) {
		for _, v := range a {
			if !absent(v) {
				return v, nil
			}
		}
		return ionvalue.Null(), nil
	}},
	"NULLIF": {2, 2, false, func(_ *execCtx, _ *Call, a []*ionvalue.Value) (*ionvalue.Value, error) {
		if eq := compareOp("=", a[0], a[1]); truthy(eq) {
			return ionvalue.Null(), nil
		}
		return a[0], nil
	}},
}

func init() {
	scalarFuncs["CHARACTER_LENGTH"] = scalarFuncs["CHAR_LENGTH"]
}

func textFunc(f func(string) string) func(*execCtx, *Call, []*ionvalue.Value) (*ionvalue.Value, error) {
	return func(_ *execCtx, call *Call, a []*ionvalue.Value) (*ionvalue.Value, error) {
		if !isText(a[0]) {
			return nil, evalErr(call.Pos, "%s expects a string", call.Name)
		}
		return ionvalue.String(f(a[0].Text)), nil
	}
}

// checkCall validates a call's name and arity at planning time.
func checkCall(call *Call) error {
	if aggregateFuncs[call.Name] {
		switch {
		case call.Star && call.Name != "COUNT":
			return semanticErr(call.Pos, "only COUNT accepts *")
		case !call.Star && len(call.Args) != 1:
			return semanticErr(call.Pos, "%s takes exactly one argument", call.Name)
		}
		return nil
	}
	if call.Name == "HISTORY" {
		return semanticErr(call.Pos, "history() can only be used as a FROM source")
	}
	f, ok := scalarFuncs[call.Name]
	if !ok {
		return semanticErr(call.Pos, "No such function: %s", call.Name)
	}
	if call.Star || len(call.Args) < f.minArgs || (f.maxArgs >= 0 && len(call.Args) > f.maxArgs) {
		return semanticErr(call.Pos, "wrong number of arguments to %s", call.Name)
	}
	return nil
}

func (c *execCtx) evalCall(call *Call, s *scope) (*ionvalue.Value, error) {
	if aggregateFuncs[call.Name] {
		if v, ok := c.aggs[call]; ok {
			return v, nil
		}
		return nil, semanticErr(call.Pos, "aggregate function %s is only allowed in the SELECT list", call.Name)
	}
	if err := checkCall(call); err != nil {
		return nil, err
	}
	f := scalarFuncs[call.Name]
	args := make([]*ionvalue.Value, len(call.Args))
	for i, a := range call.Args {
		v, err := c.eval(a, s)
		if err != nil {
			return nil, err
		}
		if f.nullCall && absent(v) {
			return ionvalue.Null(), nil
		}
		args[i] = v
	}
	return f.fn(c, call, args)
}

// aggState accumulates one aggregate call over the rows of a query.
type aggState struct {
	call  *Call
	count int64
	sum   *ionvalue.Value // SUM and AVG
	best  *ionvalue.Value // MIN and MAX
}

// add folds one row's argument value in (ignored for COUNT(*)).
func (a *aggState) add(v *ionvalue.Value) error {
	if a.call.Star {
		a.count++
		return nil
	}
	if absent(v) {
		return nil
	}
	switch a.call.Name {
	case "COUNT":
		a.count++
	case "SUM", "AVG":
		if !isNumber(v) {
			return evalErr(a.call.Pos, "%s expects numbers", a.call.Name)
		}
		a.count++
		if a.sum == nil {
			a.sum = v
			return nil
		}
		s, err := arith(a.call.Pos, "+", a.sum, v)
		if err != nil {
			return err
		}
		a.sum = s
	case "MIN":
		if a.best == nil || compareTotal(v, a.best) < 0 {
			a.best = v
		}
	case "MAX":
		if a.best == nil || compareTotal(v, a.best) > 0 {
			a.best = v
		}
	}
	return nil
}

// result is the aggregate's value: COUNT gives an int (0 over no rows), the
// others NULL over no (non-null) values. AVG of ints and decimals is a
// decimal, of floats a float.
func (a *aggState) result() (*ionvalue.Value, error) {
	switch a.call.Name {
	case "COUNT":
		return ionvalue.Int(a.count), nil
	case "SUM":
		if a.sum == nil {
			return ionvalue.Null(), nil
		}
		return a.sum, nil
	case "AVG":
		if a.sum == nil {
			return ionvalue.Null(), nil
		}
		sum := a.sum
		if sum.Type == ion.IntType {
			sum = ionvalue.DecimalValue(ion.NewDecimal(bigOf(sum), 0, false))
		}
		return arith(a.call.Pos, "/", sum, ionvalue.Int(a.count))
	}
	if a.best == nil {
		return ionvalue.Null(), nil
	}
	return a.best, nil
}
