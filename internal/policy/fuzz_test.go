package policy

import (
	"testing"
)

// FuzzParsePolicy feeds arbitrary bytes to Parse and ParseSet: they must
// never panic, and a document Parse accepts must evaluate without
// panicking and deterministically.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		`{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "qldb:*", "Resource": "*"}}`,
		`{"Version": "2012-10-17", "Statement": [{"Sid": "a", "Effect": "Deny", "NotAction": ["qldb:PartiQL*"], "NotResource": "arn:aws:qldb:*:*:ledger/x/table/*"}]}`,
		`{"Statement": {"Effect": "Allow", "Action": "qldb:PartiQLSelect", "Resource": "*", "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": ["a*", 1, true]}, "Null": {"aws:ResourceTag/x": "false"}}}}`,
		`{"Statement": {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::*:role/?", "Condition": {"StringEqualsIfExists": {"iam:PassedToService": "qldb.amazonaws.com"}}}}`,
		`{"app": {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}}`,
		`{"Statement": {"Effect": "Allow", "Action": "qldb:*", "Resource": "*"}} trailing`,
		`{"Statement": null}`, `[`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := ParseSet(b); err == nil {
			_ = s.Keys()
		}
		d, err := Parse(b)
		if err != nil {
			return
		}
		ctx := MapContext{"aws:tagkeys": {"a", "b"}, "aws:resourcetag/x": {"1"}}
		req := Request{Action: "qldb:PartiQLSelect", Resource: "arn:aws:qldb:us-east-1:1:ledger/x/table/y", Context: ctx}
		if Evaluate([]*Document{d}, req) != Evaluate([]*Document{d}, req) {
			t.Fatal("Evaluate is not deterministic")
		}
	})
}
