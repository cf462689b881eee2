package main

import (
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersion: strand --version (and strand version) names the module
// version, the commit and the Go version; the commit comes from the build
// information, or from -X main.buildCommit when that has none.
func TestVersion(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/strand-db/strand", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := formatVersion(bi, ""), "strand v1.2.3 (commit abc123+dirty of 2026-12-01T10:00:00Z, go1.26.8)"; got != want {
		t.Errorf("formatVersion = %q, want %q", got, want)
	}
	bi.Settings = nil
	if got, want := formatVersion(bi, "def456"), "strand v1.2.3 (commit def456, go1.26.8)"; got != want {
		t.Errorf("formatVersion with a linker-set commit = %q, want %q", got, want)
	}
	bin := buildStrand(t)
	for _, arg := range []string{"--version", "version"} {
		out, err := exec.Command(bin, arg).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "strand ") || !strings.Contains(string(out), "commit ") || !strings.Contains(string(out), "go1.") {
			t.Errorf("strand %s: err=%v output=%q", arg, err, out)
		}
	}
}
