package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const ledgerARN = "arn:aws:qldb:us-east-1:123456789012:ledger/vehicles"

func mustParse(t *testing.T, s string) *Document {
	t.Helper()
	d, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, s)
	}
	return d
}

func TestEvaluateMatrix(t *testing.T) {
	doc := mustParse(t, `{
	  "Version": "2012-10-17",
	  "Statement": [
	    {"Effect": "Allow", "Action": "qldb:SendCommand", "Resource": "arn:aws:qldb:us-east-1:123456789012:ledger/vehicles"},
	    {"Effect": "Allow", "Action": ["qldb:PartiQLSelect", "qldb:PartiQLInsert"], "Resource": "arn:aws:qldb:us-east-1:123456789012:ledger/vehicles/table/*"},
	    {"Effect": "Deny", "Action": "qldb:PartiQLInsert", "Resource": "arn:aws:qldb:us-east-1:123456789012:ledger/vehicles/table/secret"},
	    {"Effect": "Allow", "NotAction": ["qldb:Delete*", "iam:*"], "Resource": "arn:aws:qldb:*:*:ledger/scratch-?"},
	    {"Effect": "Allow", "Action": "qldb:DescribeLedger", "NotResource": "arn:aws:qldb:us-east-1:123456789012:ledger/vehicles"}
	  ]}`)
	for _, c := range []struct {
		action, resource string
		want             Decision
	}{
		{"qldb:SendCommand", ledgerARN, Allowed},
		{"QLDB:sendcommand", ledgerARN, Allowed}, // actions compare case-insensitively
		{"qldb:SendCommand", ledgerARN + "2", ImplicitDeny},
		{"qldb:PartiQLSelect", ledgerARN + "/table/abc", Allowed},
		{"qldb:PartiQLInsert", ledgerARN + "/table/abc", Allowed},
		{"qldb:PartiQLInsert", ledgerARN + "/table/secret", ExplicitDeny},
		{"qldb:PartiQLSelect", ledgerARN + "/table/secret", Allowed},
		{"qldb:PartiQLDelete", ledgerARN + "/table/abc", ImplicitDeny},
		{"qldb:PartiQLSelect", ledgerARN + "/information_schema/user_tables", ImplicitDeny},
		{"qldb:CreateLedger", "arn:aws:qldb:us-east-1:123456789012:ledger/scratch-1", Allowed},
		{"qldb:DeleteLedger", "arn:aws:qldb:us-east-1:123456789012:ledger/scratch-1", ImplicitDeny},
		{"iam:PassRole", "arn:aws:qldb:us-east-1:123456789012:ledger/scratch-1", ImplicitDeny},
		{"qldb:CreateLedger", "arn:aws:qldb:us-east-1:123456789012:ledger/scratch-12", ImplicitDeny},
		{"qldb:DescribeLedger", "arn:aws:qldb:us-east-1:123456789012:ledger/other", Allowed},
		{"qldb:DescribeLedger", ledgerARN, ImplicitDeny},
	} {
		if got := Evaluate([]*Document{doc}, Request{Action: c.action, Resource: c.resource}); got != c.want {
			t.Errorf("%s on %s: got %v, want %v", c.action, c.resource, got, c.want)
		}
	}
	if got := Evaluate(nil, Request{Action: "qldb:ListLedgers", Resource: "*"}); got != ImplicitDeny {
		t.Errorf("no policies: got %v, want implicit deny", got)
	}
}

func TestConditions(t *testing.T) {
	doc := mustParse(t, `{"Version": "2012-10-17", "Statement": [
	  {"Effect": "Allow", "Action": "qldb:PartiQLSelect", "Resource": "*",
	   "Condition": {"StringEquals": {"aws:ResourceTag/environment": ["development", "test"]}}},
	  {"Effect": "Allow", "Action": "qldb:CreateLedger", "Resource": "*",
	   "Condition": {"StringLike": {"aws:RequestTag/team": "pay*"}, "ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}},
	  {"Effect": "Deny", "Action": "qldb:DeleteLedger", "Resource": "*",
	   "Condition": {"StringNotEqualsIfExists": {"aws:ResourceTag/owner": "ops"}}},
	  {"Effect": "Allow", "Action": "qldb:DeleteLedger", "Resource": "*"},
	  {"Effect": "Allow", "Action": "qldb:TagResource", "Resource": "*",
	   "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": "cost"}, "Null": {"aws:RequestTag/owner": "true"}}}
	]}`)
	docs := []*Document{doc}
	ctx := func(kv ...string) Context {
		m := MapContext{}
		for i := 0; i < len(kv); i += 2 {
			k := NormalizeKey(kv[i])
			m[k] = append(m[k], kv[i+1])
		}
		return m
	}
	for i, c := range []struct {
		action string
		ctx    Context
		want   Decision
	}{
		{"qldb:PartiQLSelect", ctx("aws:ResourceTag/environment", "test"), Allowed},
		{"qldb:PartiQLSelect", ctx("AWS:resourcetag/environment", "test"), Allowed}, // key name case-insensitive
		{"qldb:PartiQLSelect", ctx("aws:ResourceTag/Environment", "test"), ImplicitDeny},
		{"qldb:PartiQLSelect", ctx("aws:ResourceTag/environment", "production"), ImplicitDeny},
		{"qldb:PartiQLSelect", ctx(), ImplicitDeny},
		{"qldb:CreateLedger", ctx("aws:RequestTag/team", "payments", "aws:TagKeys", "team"), Allowed},
		{"qldb:CreateLedger", ctx("aws:RequestTag/team", "payments", "aws:TagKeys", "team", "aws:TagKeys", "other"), ImplicitDeny},
		{"qldb:CreateLedger", ctx("aws:RequestTag/team", "ops"), ImplicitDeny},
		{"qldb:DeleteLedger", ctx(), ExplicitDeny}, // IfExists: no owner tag, the condition holds
		{"qldb:DeleteLedger", ctx("aws:ResourceTag/owner", "ops"), Allowed},
		{"qldb:DeleteLedger", ctx("aws:ResourceTag/owner", "dev"), ExplicitDeny},
		{"qldb:TagResource", ctx("aws:TagKeys", "a", "aws:TagKeys", "cost"), Allowed},
		{"qldb:TagResource", ctx("aws:TagKeys", "a"), ImplicitDeny},
		{"qldb:TagResource", ctx("aws:TagKeys", "cost", "aws:RequestTag/owner", "x"), ImplicitDeny},
	} {
		if got := Evaluate(docs, Request{Action: c.action, Resource: ledgerARN, Context: c.ctx}); got != c.want {
			t.Errorf("case %d %s: got %v, want %v", i, c.action, got, c.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{
		``, `[]`, `null`, `{}`,
		`{"Version": "2012-10-17"}`,
		`{"Version": "2019-01-01", "Statement": []}`,
		`{"Statement": {"Effect": "Allow", "Action": "qldb:*"}}`,
		`{"Statement": {"Effect": "Allow", "Resource": "*"}}`,
		`{"Statement": {"Effect": "allow", "Action": "qldb:*", "Resource": "*"}}`,
		`{"Statement": {"Effect": "Allow", "Action": "qldb:*", "NotAction": "x:y", "Resource": "*"}}`,
		`{"Statement": {"Effect": "Allow", "Action": "qldb", "Resource": "*"}}`,
		`{"Statement": {"Effect": "Allow", "Action": [], "Resource": "*"}}`,
		`{"Statement": {"Effect": "Allow", "Action": "qldb:*", "Resource": "*", "Principal": "*"}}`,
		`{"Statement": {"Effect": "Allow", "Action": "qldb:*", "Resource": "*", "Condition": {"NumericLessThan": {"k": 1}}}}`,
		`{"Statement": {"Effect": "Allow", "Action": "qldb:*", "Resource": "*", "Condition": {"ForSome:StringEquals": {"k": "v"}}}}`,
		`{"Statement": {"Effect": "Allow", "Action": "qldb:*", "Resource": "*", "Condition": {"StringEquals": {"k": {"a": 1}}}}}`,
		`{"Statement": {"Effect": "Allow", "Action": "qldb:*", "Resource": "*", "Extra": 1}}`,
		`{"Statement": [{"Effect": "Allow", "Action": "qldb:*", "Resource": "*"}]} {}`,
	} {
		if _, err := Parse([]byte(s)); err == nil {
			t.Errorf("Parse(%s) succeeded, want an error", s)
		} else if !strings.HasPrefix(err.Error(), "policy: ") {
			t.Errorf("Parse(%s): error %q lacks the package prefix", s, err)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*c", "abbbc", true}, {"a*c", "ab", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"*/table/*", "x/table/y", true},
		{"a**b", "ab", true}, {"a*b*c", "aXbYbZc", true}, {"abc", "abcd", false},
	} {
		if got := Glob(c.p, c.s); got != c.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
}

func TestLoadDirectoryAndDiff(t *testing.T) {
	dir := t.TempDir()
	allow := `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "qldb:*", "Resource": "*"}}`
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.json", `{"app": `+allow+`, "ops": [`+allow+`]}`)
	write("b.json", `{"app": {"Statement": {"Effect": "Deny", "Action": "qldb:DeleteLedger", "Resource": "*"}}}`)
	write("notes.txt", `not json`)
	s1, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(s1.Policies("app")); got != 2 {
		t.Fatalf("app has %d documents, want 2 (one per file)", got)
	}
	if Evaluate(s1.Policies("app"), Request{Action: "qldb:DeleteLedger", Resource: ledgerARN}) != ExplicitDeny {
		t.Fatal("the deny of b.json does not apply to app")
	}
	write("b.json", `{"auditor": `+allow+`}`)
	s2, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ch := Diff(s1, s2)
	if strings.Join(ch.Added, ",") != "auditor" || strings.Join(ch.Changed, ",") != "app" || len(ch.Removed) != 0 {
		t.Fatalf("Diff = %+v", ch)
	}
	write("a.json", `{"app": `)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "a.json") {
		t.Fatalf("a broken file: err = %v, want one naming a.json", err)
	}
}

func TestPolicyVariables(t *testing.T) {
	doc := mustParse(t, `{"Version": "2012-10-17", "Statement": [
	  {"Effect": "Allow", "Action": "qldb:UpdateLedger", "Resource": "*",
	   "Condition": {"StringEquals": {"aws:ResourceTag/owner": "${aws:username}"}}},
	  {"Effect": "Allow", "Action": "qldb:DescribeLedger", "Resource": "arn:aws:qldb:*:*:ledger/${aws:username}-*"}]}`)
	old := mustParse(t, `{"Version": "2008-10-17", "Statement":
	  {"Effect": "Allow", "Action": "qldb:DescribeLedger", "Resource": "arn:aws:qldb:*:*:ledger/${aws:username}-*"}}`)
	ctx := func(user, owner string) Context {
		m := MapContext{}
		if user != "" {
			m["aws:username"] = []string{user}
		}
		if owner != "" {
			m["aws:resourcetag/owner"] = []string{owner}
		}
		return m
	}
	for i, c := range []struct {
		docs     []*Document
		action   string
		resource string
		ctx      Context
		want     Decision
	}{
		{[]*Document{doc}, "qldb:UpdateLedger", ledgerARN, ctx("ana", "ana"), Allowed},
		{[]*Document{doc}, "qldb:UpdateLedger", ledgerARN, ctx("ana", "bo"), ImplicitDeny},
		{[]*Document{doc}, "qldb:UpdateLedger", ledgerARN, ctx("", "ana"), ImplicitDeny},
		{[]*Document{doc}, "qldb:DescribeLedger", "arn:aws:qldb:us-east-1:1:ledger/ana-test", ctx("ana", ""), Allowed},
		{[]*Document{doc}, "qldb:DescribeLedger", "arn:aws:qldb:us-east-1:1:ledger/bo-test", ctx("ana", ""), ImplicitDeny},
		{[]*Document{doc}, "qldb:DescribeLedger", "arn:aws:qldb:us-east-1:1:ledger/ana-test", ctx("", ""), ImplicitDeny},
		// Version 2008-10-17 has no policy variables: the text is literal.
		{[]*Document{old}, "qldb:DescribeLedger", "arn:aws:qldb:us-east-1:1:ledger/ana-test", ctx("ana", ""), ImplicitDeny},
		{[]*Document{old}, "qldb:DescribeLedger", "arn:aws:qldb:us-east-1:1:ledger/${aws:username}-x", ctx("ana", ""), Allowed},
	} {
		if got := Evaluate(c.docs, Request{Action: c.action, Resource: c.resource, Context: c.ctx}); got != c.want {
			t.Errorf("case %d: got %v, want %v", i, got, c.want)
		}
	}
}
