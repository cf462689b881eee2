package qldberr

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	if got := Clip("short"); got != "short" {
		t.Errorf("short input changed: %q", got)
	}
	long := strings.Repeat("é", 300) // 600 bytes, two per character
	got := Clip(long)
	if !utf8.ValidString(got) || !strings.HasSuffix(got, "…(600 bytes)") || len(got) > MaxEcho+len("…(600 bytes)") {
		t.Errorf("Clip: %q", got)
	}
	e := Invalid("Name", "Name %q is bad: %v", strings.Repeat("a", 100_000), errors.New(strings.Repeat("b", 5000)))
	if len(e.Message) > 700 || !strings.Contains(e.Message, "(100000 bytes)") || !strings.Contains(e.Message, "(5000 bytes)") {
		t.Errorf("Invalid: %d bytes: %.200q", len(e.Message), e.Message)
	}
	// A message relayed whole keeps its own clipped parts intact.
	if r := New(BadRequest, "%s", e.Message); r.Message != e.Message {
		t.Errorf("relayed message changed: %q", r.Message)
	}
	if nf := NotFound("LEDGER", strings.Repeat("x", 1000), "Ledger %s does not exist", strings.Repeat("x", 1000)); len(nf.ResourceName) > 300 || len(nf.Message) > 320 {
		t.Errorf("NotFound: %d-byte name, %d-byte message", len(nf.ResourceName), len(nf.Message))
	}
}
