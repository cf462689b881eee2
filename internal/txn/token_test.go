package txn

import (
	"encoding/base64"
	"strings"
	"testing"
)

// A session token names its ledger, so that any node of a cluster can route
// it, and stays unguessable.
func TestSessionTokenNamesItsLedger(t *testing.T) {
	a, b := newToken("vehicle-registration"), newToken("vehicle-registration")
	if a == b {
		t.Fatal("two tokens are equal")
	}
	for _, tok := range []string{a, b} {
		name, ok := TokenLedger(tok)
		if !ok || name != "vehicle-registration" {
			t.Fatalf("TokenLedger(%q) = %q, %v", tok, name, ok)
		}
	}
	for _, bad := range []string{"", "abc", base64.StdEncoding.EncodeToString(make([]byte, 32)),
		base64.StdEncoding.EncodeToString(append([]byte("x\x00"), make([]byte, 31)...)), strings.Repeat("A", 200)} {
		if name, ok := TokenLedger(bad); ok {
			t.Errorf("TokenLedger(%q) = %q, true; want false", bad, name)
		}
	}
}
