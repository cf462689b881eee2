package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchStreamSmoke runs `strand bench stream` for a moment at a low
// rate with a tiny journal (it needs kinesalite in tools/kinesis, which
// scripts/test.sh installs; skipped without it): the live half reports
// every committed transaction's PutRecords acknowledgement and read, the
// backfill half its rows. It checks the shape of the output, never a
// figure. It takes about 20 s, so it runs only with STRAND_LONG=1; the
// short form is internal/bench's TestAckProxyRecordsAcknowledgedBlocks.
func TestBenchStreamSmoke(t *testing.T) {
	if os.Getenv("STRAND_LONG") != "1" {
		t.Skip("set STRAND_LONG=1 to run strand bench stream (about 20 s)")
	}
	if _, err := os.Stat(filepath.Join("..", "..", "tools", "kinesis", "node_modules", "kinesalite")); err != nil {
		t.Skip("kinesalite not installed in tools/kinesis (scripts/test.sh installs it)")
	}
	bin := buildStrand(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "bench.json")
	cmd := exec.Command(bin, "bench", "stream", "--duration", "1s", "--rate", "50", "--blocks", "20",
		"--dir", filepath.Join(dir, "work"), "--json", out)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("strand bench stream: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var reps []struct {
		Rows []struct {
			Name  string
			Ops   int64
			Extra map[string]float64
		}
	}
	if err := json.Unmarshal(b, &reps); err != nil || len(reps) != 1 {
		t.Fatalf("bad JSON report: %v\n%s", err, b)
	}
	rows := map[string]int64{}
	for _, r := range reps[0].Rows {
		rows[r.Name] = r.Ops
		if n := r.Extra["not_acknowledged"] + r.Extra["not_read"]; n != 0 {
			t.Errorf("%s: %v transactions not acknowledged or not read", r.Name, n)
		}
	}
	committed := rows["stream live: commits"]
	if committed <= 0 {
		t.Fatalf("the live half committed nothing: %v", rows)
	}
	for _, name := range []string{"commit ack → PutRecords ack", "PutRecords ack → readable", "commit ack → readable"} {
		if rows[name] != committed {
			t.Errorf("%s covers %d transactions, want all %d committed", name, rows[name], committed)
		}
	}
	for _, name := range []string{"stream backfill", "raw PutRecords, same bytes"} {
		if rows[name] <= 0 {
			t.Errorf("no %q row: %v", name, rows)
		}
	}
}
