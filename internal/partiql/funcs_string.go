package partiql

import (
	"math/big"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/ionvalue"
)

// SUBSTRING and TRIM, counting Unicode code points as QLDB does.

func init() {
	scalarFuncs["SUBSTRING"] = scalarFunc{2, 3, true, substringFunc}
	scalarFuncs["TRIM"] = scalarFunc{3, 3, true, trimFunc}
}

// intArg returns an int argument clamped to ±2^61 (beyond that every
// position is outside any string), or ok false when v is not an int.
func intArg(v *ionvalue.Value) (int64, bool) {
	if v.Type != ion.IntType {
		return 0, false
	}
	const limit = int64(1) << 61
	if v.BigInt != nil {
		if v.BigInt.Cmp(big.NewInt(limit)) > 0 {
			return limit, true
		}
		if v.BigInt.Cmp(big.NewInt(-limit)) < 0 {
			return -limit, true
		}
		return v.BigInt.Int64(), true
	}
	return max(-limit, min(limit, v.Int)), true
}

// substringFunc is SUBSTRING(s, start [, length]): the code points at
// 1-based positions start .. start+length-1 that exist in s. A start
// before 1 still counts from start (SUBSTRING('123456789', 0, 2) is '1'),
// a range past the end is cut at the end, and a negative length is an error.
func substringFunc(_ *execCtx, call *Call, a []*ionvalue.Value) (*ionvalue.Value, error) {
	if !isText(a[0]) {
		return nil, evalErr(call.Pos, "SUBSTRING expects a string as its first argument, found %s", typeName(a[0]))
	}
	start, ok := intArg(a[1])
	if !ok {
		return nil, evalErr(call.Pos, "SUBSTRING expects an int start position, found %s", typeName(a[1]))
	}
	rs := []rune(a[0].Text)
	end := int64(len(rs)) + 1 // exclusive, 1-based
	if len(a) == 3 {
		n, ok := intArg(a[2])
		if !ok {
			return nil, evalErr(call.Pos, "SUBSTRING expects an int length, found %s", typeName(a[2]))
		}
		if n < 0 {
			return nil, evalErr(call.Pos, "SUBSTRING length must not be negative, found %d", n)
		}
		end = min(end, start+n)
	}
	start = max(start, 1)
	if start >= end {
		return ionvalue.String(""), nil
	}
	return ionvalue.String(string(rs[start-1 : end-1])), nil
}

// trimFunc is TRIM(spec, chars, s) as the parser builds it: removes every
// code point that occurs in chars from the start (LEADING), the end
// (TRAILING) or both ends (BOTH) of s.
func trimFunc(_ *execCtx, call *Call, a []*ionvalue.Value) (*ionvalue.Value, error) {
	if !isText(a[1]) {
		return nil, evalErr(call.Pos, "TRIM expects a string of characters to remove, found %s", typeName(a[1]))
	}
	if !isText(a[2]) {
		return nil, evalErr(call.Pos, "TRIM expects a string, found %s", typeName(a[2]))
	}
	set := map[rune]bool{}
	for _, r := range a[1].Text {
		set[r] = true
	}
	rs := []rune(a[2].Text)
	i, j := 0, len(rs)
	if spec := a[0].Text; spec != "TRAILING" {
		for i < j && set[rs[i]] {
			i++
		}
	}
	if spec := a[0].Text; spec != "LEADING" {
		for j > i && set[rs[j-1]] {
			j--
		}
	}
	return ionvalue.String(string(rs[i:j])), nil
}
