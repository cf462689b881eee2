package ledger

import "testing"

// TestParseTableARN: ledger/<name>/table/<tableId> parses into Ledger and
// TableID; anything else after the ledger name is refused.
func TestParseTableARN(t *testing.T) {
	a, err := ParseARN(TableARN("us-east-1", "000000000000", "my-ledger", "5PLf9SXwndd63lPaSIa0O6"))
	if err != nil || a.Ledger != "my-ledger" || a.TableID != "5PLf9SXwndd63lPaSIa0O6" || a.StreamID != "" {
		t.Fatalf("table ARN: %+v, %v", a, err)
	}
	for _, bad := range []string{
		"arn:aws:qldb:us-east-1:000000000000:ledger/my-ledger/table/",
		"arn:aws:qldb:us-east-1:000000000000:ledger/my-ledger/table/a-b",
		"arn:aws:qldb:us-east-1:000000000000:ledger/my-ledger/tables/abc",
		"arn:aws:qldb:us-east-1:000000000000:ledger/my-ledger/table/abc/x",
		"arn:aws:qldb:us-east-1:000000000000:ledger/my-ledger/",
	} {
		if a, err := ParseARN(bad); err == nil {
			t.Errorf("%s parsed as %+v", bad, a)
		}
	}
	if a, err := ParseARN(LedgerARN("us-east-1", "000000000000", "my-ledger")); err != nil || a.TableID != "" || a.Ledger != "my-ledger" {
		t.Errorf("ledger ARN: %+v, %v", a, err)
	}
}
