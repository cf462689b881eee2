package config

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestLogFlags: --log-format json writes one JSON object per line,
// --log-level drops what is less severe, and bad values are refused by
// Validate naming the flag.
func TestLogFlags(t *testing.T) {
	c := parse(t, []string{"--log-format", "json", "--log-level", "warn"}, nil)
	var buf bytes.Buffer
	log := c.NewLogger(&buf)
	log.Info("dropped")
	log.Warn("kept", "k", "v")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line["msg"] != "kept" || line["k"] != "v" || strings.Contains(buf.String(), "dropped") {
		t.Errorf("json at warn: %q (%v)", buf.String(), err)
	}
	for _, args := range [][]string{{"--log-format", "xml"}, {"--log-level", "loud"}} {
		c := parse(t, append(args, "--data-dir", t.TempDir()), nil)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: %v", args, err)
		}
	}
}
