package partiql

import (
	"math"
	"math/big"
	"strconv"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// maxArithExp bounds decimal exponents that arithmetic will expand into exact
// rationals, so that `1d999999999` cannot make the server allocate gigabytes.
const maxArithExp = 10000

// maxProductBits bounds the operands of a product (about 19,700 decimal
// digits between them), so that a chain of products cannot grow a value
// without bound.
const maxProductBits = 1 << 16

// ratOf converts an int or decimal value to an exact rational.
func ratOf(v *ionvalue.Value) (*big.Rat, bool) {
	switch v.Type {
	case ion.IntType:
		return new(big.Rat).SetInt(bigOf(v)), true
	case ion.DecimalType:
		coef, exp := v.Decimal.CoEx()
		if exp > maxArithExp || exp < -maxArithExp {
			return nil, false
		}
		r := new(big.Rat).SetInt(coef)
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(absInt32(exp))), nil)
		if exp >= 0 {
			return r.Mul(r, new(big.Rat).SetInt(p)), true
		}
		return r.Quo(r, new(big.Rat).SetInt(p)), true
	}
	return nil, false
}

func absInt32(x int32) int64 {
	if x < 0 {
		return -int64(x)
	}
	return int64(x)
}

// floatOf converts any numeric value to float64.
func floatOf(v *ionvalue.Value) float64 {
	switch v.Type {
	case ion.FloatType:
		return v.Float
	case ion.IntType:
		if v.BigInt == nil {
			return float64(v.Int)
		}
		f, _ := new(big.Float).SetInt(v.BigInt).Float64()
		return f
	default:
		f, err := floatFromDecimal(v.Decimal)
		if err != nil {
			return math.NaN()
		}
		return f
	}
}

func floatFromDecimal(d *ion.Decimal) (float64, error) {
	coef, exp := d.CoEx()
	f, _, err := big.ParseFloat(coef.String()+"e"+strconv.Itoa(int(exp)), 10, 64, big.ToNearestEven)
	if err != nil {
		return 0, err
	}
	x, _ := f.Float64()
	return x, nil
}

// decimalFromRat renders r as an Ion decimal with up to 34 digits after
// the point, trailing zeros trimmed (an exact result keeps its exact digits).
func decimalFromRat(r *big.Rat) *ionvalue.Value {
	s := r.FloatString(34)
	for len(s) > 1 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	d, err := ion.ParseDecimal(s)
	if err != nil {
		return ionvalue.Null()
	}
	return ionvalue.DecimalValue(d)
}

// arith applies + - * / % to two values with PartiQL's propagation: MISSING
// if either is MISSING, NULL if either is NULL, MISSING for non-numbers.
// int op int stays int (/ truncates), a float operand makes a float, else the
// result is a decimal.
func arith(p Pos, op string, a, b *ionvalue.Value) (*ionvalue.Value, error) {
	switch {
	case a == nil || b == nil:
		return nil, nil
	case isNull(a) || isNull(b):
		return ionvalue.Null(), nil
	case !isNumber(a) || !isNumber(b):
		return nil, nil
	}
	if a.Type == ion.FloatType || b.Type == ion.FloatType {
		x, y := floatOf(a), floatOf(b)
		switch op {
		case "+":
			return ionvalue.Float(x + y), nil
		case "-":
			return ionvalue.Float(x - y), nil
		case "*":
			return ionvalue.Float(x * y), nil
		case "/":
			if y == 0 {
				return nil, evalErr(p, "division by zero")
			}
			return ionvalue.Float(x / y), nil
		default:
			if y == 0 {
				return nil, evalErr(p, "division by zero")
			}
			return ionvalue.Float(math.Mod(x, y)), nil
		}
	}
	if a.Type == ion.IntType && b.Type == ion.IntType {
		x, y := bigOf(a), bigOf(b)
		switch op {
		case "+":
			return ionvalue.BigIntValue(x.Add(x, y)), nil
		case "-":
			return ionvalue.BigIntValue(x.Sub(x, y)), nil
		case "*":
			if x.BitLen()+y.BitLen() > maxProductBits {
				return nil, evalErr(p, "integer result too large")
			}
			return ionvalue.BigIntValue(x.Mul(x, y)), nil
		case "/":
			if y.Sign() == 0 {
				return nil, evalErr(p, "division by zero")
			}
			return ionvalue.BigIntValue(x.Quo(x, y)), nil
		default:
			if y.Sign() == 0 {
				return nil, evalErr(p, "division by zero")
			}
			return ionvalue.BigIntValue(x.Rem(x, y)), nil
		}
	}
	x, okx := ratOf(a)
	y, oky := ratOf(b)
	if !okx || !oky {
		return nil, evalErr(p, "decimal exponent too large for arithmetic")
	}
	switch op {
	case "+", "-", "*":
		return exactDecimal(p, op, a, b)
	}
	if y.Sign() == 0 {
		return nil, evalErr(p, "division by zero")
	}
	q := new(big.Rat).Quo(x, y)
	if op == "/" {
		return decimalFromRat(q), nil
	}
	// x - y*trunc(x/y)
	t := new(big.Int).Quo(q.Num(), q.Denom())
	r := new(big.Rat).Sub(x, new(big.Rat).Mul(y, new(big.Rat).SetInt(t)))
	return decimalFromRat(r), nil
}

// exactDecimal computes a + b, a - b or a * b exactly for ints and decimals
// (at least one a decimal, both within maxArithExp), keeping the scale as
// Ion decimals and QLDB's engine (Java's BigDecimal) do: a sum has the
// larger number of fraction digits of its operands (1.10 + 1.20 is 2.30),
// a product their total (90.25 * 2 is 180.50). A product's coefficient is
// bounded as an int product is: a chain of products of a long decimal
// would otherwise grow its coefficient by that length at each step.
func exactDecimal(p Pos, op string, a, b *ionvalue.Value) (*ionvalue.Value, error) {
	c1, e1 := coefExp(a)
	c2, e2 := coefExp(b)
	if op == "*" {
		if c1.BitLen()+c2.BitLen() > maxProductBits {
			return nil, evalErr(p, "decimal result too large")
		}
		return ionvalue.DecimalValue(ion.NewDecimal(c1.Mul(c1, c2), e1+e2, false)), nil
	}
	e := min(e1, e2)
	c1.Mul(c1, pow10(int64(e1-e)))
	c2.Mul(c2, pow10(int64(e2-e)))
	if op == "+" {
		c1.Add(c1, c2)
	} else {
		c1.Sub(c1, c2)
	}
	return ionvalue.DecimalValue(ion.NewDecimal(c1, e, false)), nil
}

// coefExp returns an int or decimal as a fresh coefficient and exponent.
func coefExp(v *ionvalue.Value) (*big.Int, int32) {
	if v.Type == ion.IntType {
		return bigOf(v), 0
	}
	c, e := v.Decimal.CoEx()
	return new(big.Int).Set(c), e
}

// pow10 is 10^n for n >= 0.
func pow10(n int64) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(n), nil)
}

// negate is unary minus with the same propagation as arith.
func negate(v *ionvalue.Value) *ionvalue.Value {
	switch {
	case v == nil:
		return nil
	case isNull(v):
		return ionvalue.Null()
	case !isNumber(v):
		return nil
	}
	return negateLiteral(v)
}

// concat is ||: text with text gives a string, within the memory budget.
func (c *execCtx) concat(a, b *ionvalue.Value) (*ionvalue.Value, error) {
	switch {
	case a == nil || b == nil:
		return nil, nil
	case isNull(a) || isNull(b):
		return ionvalue.Null(), nil
	case !isText(a) || !isText(b):
		return nil, nil
	}
	// The result is checked before it is made: a chain of || over a long
	// string would otherwise double it at each step.
	n := int64(len(a.Text)) + int64(len(b.Text))
	if c.lim.MaxMemoryBytes > 0 && valueSize+n > c.lim.MaxMemoryBytes {
		return nil, newBudgetError("the statement builds a string of more than %d bytes; build it in smaller parts", c.lim.MaxMemoryBytes)
	}
	if err := c.spend(n / 64); err != nil {
		return nil, err
	}
	return ionvalue.String(a.Text + b.Text), nil
}
