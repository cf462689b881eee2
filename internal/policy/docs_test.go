package policy

import (
	"os"
	"strings"
	"testing"
)

// TestPermissionsGuideExamples: every policy file of docs/permissions.md
// (its ```json blocks) loads.
func TestPermissionsGuideExamples(t *testing.T) {
	b, err := os.ReadFile("../../docs/permissions.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(b), "```json\n")[1:]
	if len(blocks) < 8 {
		t.Fatalf("found %d JSON examples, want at least 8", len(blocks))
	}
	for i, blk := range blocks {
		body, _, ok := strings.Cut(blk, "```")
		if !ok {
			t.Fatalf("example %d is not closed", i+1)
		}
		s, err := ParseSet([]byte(body))
		if err != nil {
			t.Errorf("example %d: %v\n%s", i+1, err, body)
			continue
		}
		if len(s.Keys()) == 0 {
			t.Errorf("example %d names no principal", i+1)
		}
	}
}
