// Package policy parses and evaluates IAM-style identity policies: the JSON
// documents AWS IAM uses ({"Version", "Statement": [{"Effect", "Action" |
// "NotAction", "Resource" | "NotResource", "Condition"}]}), restricted to
// what Amazon QLDB's documented policies use. It knows nothing of HTTP or of
// ledgers: a caller describes a request (action, resource ARN, condition
// keys) and gets a Decision.
//
// Evaluation follows IAM's rules for identity-based policies: a request is
// allowed only when some statement allows it and no statement denies it; an
// explicit Deny always wins; anything not allowed is denied (implicit deny).
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// MaxDocumentBytes bounds one policy document's JSON. AWS allows 6,144
// characters for a managed policy; Strand allows more (operators keep
// everything in one file) but bounds what it will parse.
const MaxDocumentBytes = 1 << 20

// Effect is a statement's Effect.
type Effect string

// The two effects.
const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// Document is a parsed identity policy.
type Document struct {
	Version    string
	ID         string
	Statements []Statement
}

// Statement is one statement of a Document. Exactly one of Actions and
// NotActions is set, and exactly one of Resources and NotResources.
type Statement struct {
	Sid         string
	Effect      Effect
	Actions     []string // patterns; NotAction when NotAction is set
	NotAction   bool
	Resources   []string // patterns; NotResource when NotResource is set
	NotResource bool
	Conditions  []Condition

	lowerActions []string // Actions lower-cased, for matching
	vars         bool     // policy variables (${key}) are substituted: Version 2012-10-17
}

// Condition is one (operator, key, values) test of a statement's Condition
// block. All of a statement's conditions must hold; a condition holds when
// the request's value for Key matches any of Values (see Operator).
type Condition struct {
	// Operator is the operator as written, e.g. "ForAnyValue:StringLike".
	Operator string
	op       string // base operator: StringEquals, StringLike, Null...
	ifExists bool
	set      string // "", "ForAnyValue" or "ForAllValues"
	Key      string
	Values   []string
}

// supportedOps are the condition operators Strand evaluates: the string
// and Null operators QLDB's documented policies (and IAM's tag-based
// access control) use. Any other operator is a parse error rather than a
// condition silently ignored.
var supportedOps = map[string]bool{
	"StringEquals": true, "StringNotEquals": true,
	"StringEqualsIgnoreCase": true, "StringNotEqualsIgnoreCase": true,
	"StringLike": true, "StringNotLike": true,
	"ArnEquals": true, "ArnNotEquals": true, "ArnLike": true, "ArnNotLike": true,
	"Bool": true, "Null": true,
}

// Parse parses one policy document. It rejects what IAM rejects in an
// identity policy (a Principal element, a missing Effect, Action or
// Resource, both Action and NotAction...), and condition operators Strand
// does not evaluate. Errors are prefixed "policy: ".
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxDocumentBytes {
		return nil, fmt.Errorf("policy: document is %d bytes, more than the %d allowed", len(data), MaxDocumentBytes)
	}
	var raw map[string]json.RawMessage
	if err := strictDecode(data, &raw); err != nil {
		return nil, fmt.Errorf("policy: not a JSON object: %w", err)
	}
	if raw == nil {
		return nil, errors.New("policy: not a JSON object")
	}
	d := &Document{}
	for k, v := range raw {
		switch k {
		case "Version":
			if err := json.Unmarshal(v, &d.Version); err != nil {
				return nil, errors.New("policy: Version must be a string")
			}
			if d.Version != "2012-10-17" && d.Version != "2008-10-17" {
				return nil, fmt.Errorf("policy: Version %q is not 2012-10-17 or 2008-10-17", d.Version)
			}
		case "Id":
			if err := json.Unmarshal(v, &d.ID); err != nil {
				return nil, errors.New("policy: Id must be a string")
			}
		case "Statement":
			stmts, err := parseStatements(v)
			if err != nil {
				return nil, err
			}
			d.Statements = stmts
		default:
			return nil, fmt.Errorf("policy: unknown element %q", k)
		}
	}
	if _, ok := raw["Statement"]; !ok {
		return nil, errors.New("policy: Statement is required")
	}
	for i := range d.Statements {
		d.Statements[i].vars = d.Version == "2012-10-17"
	}
	return d, nil
}

// strictDecode decodes exactly one JSON value from data into v.
func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

// parseStatements parses a Statement element: one object or an array of them.
func parseStatements(v json.RawMessage) ([]Statement, error) {
	var list []json.RawMessage
	if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '[' {
		if err := json.Unmarshal(v, &list); err != nil {
			return nil, errors.New("policy: Statement must be an object or an array of objects")
		}
	} else {
		list = []json.RawMessage{v}
	}
	out := make([]Statement, 0, len(list))
	for i, s := range list {
		st, err := parseStatement(s)
		if err != nil {
			return nil, fmt.Errorf("policy: Statement %d: %w", i+1, err)
		}
		out = append(out, st)
	}
	return out, nil
}

func parseStatement(v json.RawMessage) (Statement, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil || raw == nil {
		return Statement{}, errors.New("not a JSON object")
	}
	var st Statement
	seen := map[string]bool{}
	for k, v := range raw {
		seen[k] = true
		var err error
		switch k {
		case "Sid":
			if json.Unmarshal(v, &st.Sid) != nil {
				err = errors.New("Sid must be a string")
			}
		case "Effect":
			var e string
			if json.Unmarshal(v, &e) != nil || (e != string(Allow) && e != string(Deny)) {
				err = errors.New(`Effect must be "Allow" or "Deny"`)
			}
			st.Effect = Effect(e)
		case "Action", "NotAction":
			st.Actions, err = stringList(k, v)
			st.NotAction = k == "NotAction"
			if err == nil {
				err = checkActions(st.Actions)
			}
			st.lowerActions = make([]string, len(st.Actions))
			for i, a := range st.Actions {
				st.lowerActions[i] = strings.ToLower(a)
			}
		case "Resource", "NotResource":
			st.Resources, err = stringList(k, v)
			st.NotResource = k == "NotResource"
		case "Condition":
			st.Conditions, err = parseConditions(v)
		case "Principal", "NotPrincipal":
			err = fmt.Errorf("%s is not allowed in an identity policy (the principal is who the policy is attached to)", k)
		default:
			err = fmt.Errorf("unknown element %q", k)
		}
		if err != nil {
			return Statement{}, err
		}
	}
	switch {
	case st.Effect == "":
		return st, errors.New("Effect is required")
	case seen["Action"] == seen["NotAction"]:
		return st, errors.New("exactly one of Action and NotAction is required")
	case seen["Resource"] == seen["NotResource"]:
		return st, errors.New("exactly one of Resource and NotResource is required")
	}
	return st, nil
}

// stringList parses a string or a non-empty array of strings.
func stringList(name string, v json.RawMessage) ([]string, error) {
	var one string
	if json.Unmarshal(v, &one) == nil {
		if one == "" {
			return nil, fmt.Errorf("%s must not be empty", name)
		}
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(v, &many); err != nil || len(many) == 0 {
		return nil, fmt.Errorf("%s must be a string or a non-empty array of strings", name)
	}
	for _, s := range many {
		if s == "" {
			return nil, fmt.Errorf("%s must not hold an empty string", name)
		}
	}
	return many, nil
}

// checkActions checks that each action is "*" or "service:name".
func checkActions(actions []string) error {
	for _, a := range actions {
		if a == "*" {
			continue
		}
		svc, name, ok := strings.Cut(a, ":")
		if !ok || svc == "" || name == "" || strings.ContainsAny(svc, "*?") {
			return fmt.Errorf("action %q is not of the form service:action", a)
		}
	}
	return nil
}

// parseConditions parses a Condition block: {operator: {key: value(s)}}.
func parseConditions(v json.RawMessage) ([]Condition, error) {
	var block map[string]map[string]json.RawMessage
	if err := strictDecode(v, &block); err != nil {
		return nil, errors.New("Condition must be an object of {operator: {key: value or [values]}}")
	}
	ops := make([]string, 0, len(block))
	for op := range block {
		ops = append(ops, op)
	}
	sort.Strings(ops) // a stable order, for error messages and tests
	var out []Condition
	for _, opName := range ops {
		c := Condition{Operator: opName}
		base := opName
		if set, rest, ok := strings.Cut(base, ":"); ok {
			if set != "ForAnyValue" && set != "ForAllValues" {
				return nil, fmt.Errorf("condition operator %q: only ForAnyValue: and ForAllValues: qualifiers exist", opName)
			}
			c.set, base = set, rest
		}
		if b, ok := strings.CutSuffix(base, "IfExists"); ok && b != "Null" {
			c.ifExists, base = true, b
		}
		if !supportedOps[base] {
			return nil, fmt.Errorf("condition operator %q is not supported by Strand (supported: String*, Arn*, Bool, Null, with ForAnyValue:/ForAllValues: and ...IfExists)", opName)
		}
		c.op = base
		keys := make([]string, 0, len(block[opName]))
		for k := range block[opName] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) == 0 {
			return nil, fmt.Errorf("condition operator %q has no keys", opName)
		}
		for _, k := range keys {
			vals, err := conditionValues(block[opName][k])
			if err != nil {
				return nil, fmt.Errorf("condition %s %q: %w", opName, k, err)
			}
			if k == "" {
				return nil, fmt.Errorf("condition %s: empty key", opName)
			}
			cc := c
			cc.Key, cc.Values = k, vals
			out = append(out, cc)
		}
	}
	return out, nil
}

// conditionValues parses a condition value: a string, number or boolean,
// or an array of them; each becomes its text.
func conditionValues(v json.RawMessage) ([]string, error) {
	var list []json.RawMessage
	if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '[' {
		if err := json.Unmarshal(v, &list); err != nil {
			return nil, errors.New("values must be an array of strings, numbers or booleans")
		}
	} else {
		list = []json.RawMessage{v}
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		var s string
		if json.Unmarshal(e, &s) == nil {
			out = append(out, s)
			continue
		}
		var b bool
		if json.Unmarshal(e, &b) == nil {
			out = append(out, fmt.Sprint(b))
			continue
		}
		var n json.Number
		if json.Unmarshal(e, &n) == nil {
			out = append(out, n.String())
			continue
		}
		return nil, errors.New("values must be strings, numbers or booleans")
	}
	return out, nil
}
