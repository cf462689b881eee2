package policy

import (
	"fmt"
	"testing"
)

// BenchmarkEvaluate: one request against a principal with 20 statements
// (wildcard resources, one condition), as a STANDARD-mode statement
// check does per table.
func BenchmarkEvaluate(b *testing.B) {
	var stmts string
	for i := 0; i < 19; i++ {
		stmts += fmt.Sprintf(`{"Effect": "Allow", "Action": ["qldb:PartiQLSelect", "qldb:PartiQLInsert"], "Resource": "arn:aws:qldb:us-east-1:123456789012:ledger/l%d/table/*"},`, i)
	}
	stmts += `{"Effect": "Deny", "Action": "qldb:PartiQL*", "Resource": "*", "Condition": {"StringEquals": {"aws:ResourceTag/secret": "yes"}}}`
	d, err := Parse([]byte(`{"Version": "2012-10-17", "Statement": [` + stmts + `]}`))
	if err != nil {
		b.Fatal(err)
	}
	req := Request{Action: "qldb:PartiQLSelect", Resource: "arn:aws:qldb:us-east-1:123456789012:ledger/l18/table/Ay8ydxQKLs3Ex4vrNHWdM5",
		Context: MapContext{}}
	b.ReportAllocs()
	for b.Loop() {
		if Evaluate([]*Document{d}, req) != Allowed {
			b.Fatal("not allowed")
		}
	}
}
