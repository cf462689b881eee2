package policy

import (
	"strings"
)

// Decision is the outcome of evaluating a request.
type Decision int

// The three outcomes, as IAM names them.
const (
	// ImplicitDeny: no statement allows the request (and none denies it).
	ImplicitDeny Decision = iota
	// Allowed: some statement allows the request and none denies it.
	Allowed
	// ExplicitDeny: a Deny statement matches the request.
	ExplicitDeny
)

// String names the decision for logs.
func (d Decision) String() string {
	switch d {
	case Allowed:
		return "allow"
	case ExplicitDeny:
		return "explicit deny"
	default:
		return "implicit deny"
	}
}

// Context supplies a request's condition keys (aws:ResourceTag/Key,
// aws:RequestTag/Key, aws:TagKeys, ...). Lookup returns the key's values and
// whether the key is present in the request; a single-valued key has one
// value. Keys are compared as IAM does: the key name case-insensitively,
// the tag key after "aws:ResourceTag/" or "aws:RequestTag/" as written.
// Lookup is called only for the keys a matching statement's conditions
// name, so an implementation may fetch lazily (a resource's tags).
type Context interface {
	Lookup(key string) (values []string, ok bool)
}

// MapContext is a Context held in a map; keys are matched exactly after
// the caller normalised them with NormalizeKey.
type MapContext map[string][]string

// Lookup implements Context.
func (m MapContext) Lookup(key string) ([]string, bool) {
	v, ok := m[NormalizeKey(key)]
	return v, ok
}

// NormalizeKey returns key in the form Contexts compare: the condition key
// name lower-cased, any tag key after a "/" kept as written.
func NormalizeKey(key string) string {
	name, tag, ok := strings.Cut(key, "/")
	if !ok {
		return strings.ToLower(key)
	}
	return strings.ToLower(name) + "/" + tag
}

// Request is what is being authorized.
type Request struct {
	Action   string // e.g. "qldb:CreateLedger"
	Resource string // the resource's ARN; "*" for actions without one
	Context  Context
}

// Evaluate decides req against every statement of docs, as IAM does for
// identity policies: ExplicitDeny if any Deny statement matches, else
// Allowed if any Allow statement matches, else ImplicitDeny.
func Evaluate(docs []*Document, req Request) Decision {
	out := ImplicitDeny
	action := strings.ToLower(req.Action)
	for _, d := range docs {
		for i := range d.Statements {
			st := &d.Statements[i]
			if !st.matches(action, req) {
				continue
			}
			if st.Effect == Deny {
				return ExplicitDeny
			}
			out = Allowed
		}
	}
	return out
}

// matches reports whether the statement applies to req: its action, its
// resource and all its conditions.
// action is req.Action lower-cased.
func (st *Statement) matches(action string, req Request) bool {
	if anyMatch(st.lowerActions, action) == st.NotAction {
		return false
	}
	if st.resourceMatch(req) == st.NotResource {
		return false
	}
	for i := range st.Conditions {
		if !st.Conditions[i].holds(req.Context, st.vars) {
			return false
		}
	}
	return true
}

// resourceMatch reports whether req.Resource matches any of the
// statement's resource patterns, after policy variables are substituted.
func (st *Statement) resourceMatch(req Request) bool {
	for _, p := range st.Resources {
		if st.vars {
			var ok bool
			if p, ok = expand(p, req.Context); !ok {
				continue
			}
		}
		if Glob(p, req.Resource) {
			return true
		}
	}
	return false
}

// expand substitutes the policy variables of p (${aws:username},
// ${aws:ResourceTag/K}...) with the request's single value for each key.
// ok is false when a variable is missing from the request or has several
// values: the pattern then matches nothing, as in IAM.
func expand(p string, ctx Context) (string, bool) {
	if !strings.Contains(p, "${") {
		return p, true
	}
	var b strings.Builder
	for {
		i := strings.Index(p, "${")
		if i < 0 {
			b.WriteString(p)
			return b.String(), true
		}
		j := strings.IndexByte(p[i:], '}')
		if j < 0 {
			b.WriteString(p)
			return b.String(), true
		}
		key := p[i+2 : i+j]
		var vals []string
		ok := false
		if ctx != nil && key != "" {
			vals, ok = ctx.Lookup(key)
		}
		if !ok || len(vals) != 1 {
			return "", false
		}
		b.WriteString(p[:i])
		b.WriteString(vals[0])
		p = p[i+j+1:]
	}
}

// anyMatch reports whether s matches any of the patterns.
func anyMatch(patterns []string, s string) bool {
	for _, p := range patterns {
		if Glob(p, s) {
			return true
		}
	}
	return false
}

// Glob reports whether s matches pattern, where * matches any run of
// characters (including none, and including "/" and ":") and ? matches
// exactly one character, as in IAM's Action and Resource elements and
// StringLike. It runs in O(len(pattern)·len(s)) time at most.
func Glob(pattern, s string) bool {
	p, x := 0, 0
	star, mark := -1, 0
	for x < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[x]) && pattern[p] != '*':
			p++
			x++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, x
			p++
		case star >= 0:
			p = star + 1
			mark++
			x = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// negated reports whether the base operator is a "Not" operator.
func negated(op string) bool { return strings.Contains(op, "Not") }

// holds evaluates the condition against ctx, with IAM's rules for a key
// missing from the request: a positive operator fails, a negated one
// holds, ...IfExists holds; ForAllValues holds for no values and
// ForAnyValue fails.
func (c *Condition) holds(ctx Context, vars bool) bool {
	var vals []string
	ok := false
	if ctx != nil {
		vals, ok = ctx.Lookup(c.Key)
	}
	if c.op == "Null" {
		want := len(c.Values) > 0 && strings.EqualFold(c.Values[0], "true")
		return want == (!ok || len(vals) == 0)
	}
	if !ok || len(vals) == 0 {
		switch {
		case c.set == "ForAllValues":
			return true
		case c.set == "ForAnyValue":
			return false
		case c.ifExists:
			return true
		default:
			return negated(c.op)
		}
	}
	switch c.set {
	case "ForAllValues":
		for _, v := range vals {
			if !c.valueMatches(v, ctx, vars) {
				return false
			}
		}
		return true
	case "ForAnyValue":
		for _, v := range vals {
			if c.valueMatches(v, ctx, vars) {
				return true
			}
		}
		return false
	}
	// A plain operator on a key with several values: a positive operator
	// holds when any value matches, a negated one when every value does
	// (no value equals a forbidden one).
	if negated(c.op) {
		for _, v := range vals {
			if !c.valueMatches(v, ctx, vars) {
				return false
			}
		}
		return true
	}
	for _, v := range vals {
		if c.valueMatches(v, ctx, vars) {
			return true
		}
	}
	return false
}

// valueMatches applies the operator to one request value: for a positive
// operator, whether it matches any policy value; for a negated one,
// whether it matches none.
func (c *Condition) valueMatches(v string, ctx Context, vars bool) bool {
	hit := false
	for _, p := range c.Values {
		if vars {
			var ok bool
			if p, ok = expand(p, ctx); !ok {
				continue
			}
		}
		if c.compare(p, v) {
			hit = true
			break
		}
	}
	if negated(c.op) {
		return !hit
	}
	return hit
}

// compare applies the (positive form of the) operator to policy value p
// and request value v.
func (c *Condition) compare(p, v string) bool {
	switch c.op {
	case "StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals":
		if strings.HasPrefix(c.op, "Arn") {
			return Glob(p, v)
		}
		return p == v
	case "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase":
		return strings.EqualFold(p, v)
	case "StringLike", "StringNotLike", "ArnLike", "ArnNotLike":
		return Glob(p, v)
	case "Bool":
		return strings.EqualFold(p, v)
	}
	return false
}
