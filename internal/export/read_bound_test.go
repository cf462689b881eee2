package export

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// An export object over maxObjectBytes is refused, not read into memory
// whole (the reader stops one byte past the bound).
func TestReadBoundedRefusesOversizedObject(t *testing.T) {
	defer func(n int64) { maxObjectBytes = n }(maxObjectBytes)
	maxObjectBytes = 1 << 16
	b, err := readBounded(bytes.NewReader([]byte("block")))
	if err != nil || string(b) != "block" {
		t.Fatalf("small object: %q %v", b, err)
	}
	huge := io.LimitReader(zeros{}, 1<<40)
	if _, err := readBounded(huge); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized object: %v", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
