package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchSmoke runs `strand bench commit verify` for a moment with tiny
// sizes: the scenarios start their child server, measure, print their
// tables and write a JSON report that names every scenario and a row per
// measure. It checks the shape of the output, never a figure.
func TestBenchSmoke(t *testing.T) {
	bin := buildStrand(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "bench.json")
	cmd := exec.Command(bin, "bench", "commit", "verify",
		"--duration", "500ms", "--concurrency", "2", "--blocks", "30", "--dir", filepath.Join(dir, "work"), "--json", out)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("strand bench: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	for _, want := range []string{"strand lean client", "strand official Go driver", "pebble synced batch", "start-up to listening", "GetRevision with proof", "strand verify"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the table has no %q row:\n%s", want, stdout.String())
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var reps []struct {
		Scenario string
		Rows     []struct {
			Name string
			Ops  int64
		}
	}
	if err := json.Unmarshal(b, &reps); err != nil {
		t.Fatalf("bad JSON report: %v\n%s", err, b)
	}
	if len(reps) != 2 || reps[0].Scenario != "commit" || reps[1].Scenario != "verify" {
		t.Fatalf("reports %+v, want commit and verify", reps)
	}
	if len(reps[0].Rows) != 3 || len(reps[1].Rows) != 3 {
		t.Errorf("rows: commit %d (want 3), verify %d (want 3)", len(reps[0].Rows), len(reps[1].Rows))
	}
	for _, r := range append(reps[0].Rows, reps[1].Rows...) {
		if r.Ops <= 0 {
			t.Errorf("%s measured no operations", r.Name)
		}
	}
}
