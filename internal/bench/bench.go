// Package bench implements `strand bench`: end-to-end scenarios that measure
// a real Strand server (a child process, or one already running) from a
// load generator in this process, each bounded in time, printing progress
// and a table while it runs and returning a Report that can be written as
// JSON. No test asserts on any figure it produces.
//
// The scenarios are commit (single-document INSERT transactions from a lean
// session-protocol client and from the official QLDB Go driver, next to
// Pebble's raw synced-batch ceiling), verify (GetRevision with a proof, and
// `strand verify` throughput), stream (commit → PutRecords acknowledged →
// readable, and backfill against a raw PutRecords loader), memory (peak
// resident memory and start-up time) and peer (immudb, when it can be
// built).
package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configure a run. Zero values take the defaults noted.
type Options struct {
	// Duration bounds each measured point (default 10 s).
	Duration time.Duration
	// Concurrency lists the client counts of the commit scenario (default
	// 1, 8, 32, 64).
	Concurrency []int
	// Endpoint, when set, is a running server to measure instead of a child
	// process; PID is its process id, for its CPU time and memory (0: not
	// reported). The server must accept AccessKey/Secret.
	Endpoint string
	PID      int
	// Exe is the strand binary started as the child server (default: this
	// executable).
	Exe string
	// Dir holds the child server's data and the Pebble ceiling's store
	// (default: a new temporary directory, removed afterwards).
	Dir string
	// Blocks is the journal size of the verify and memory scenarios
	// (default 20,000).
	Blocks int
	// Documents is the memory scenario's number of documents (default
	// Blocks), committed DocsPerTx to a transaction (1 to MaxDocsPerTx;
	// default DefaultMemoryDocsPerTx).
	Documents int64
	DocsPerTx int
	// Rate is the commit rate of the stream scenario (default 1,000 tx/s).
	Rate int
	// KinesisEndpoint is the Kinesis emulator of the stream scenario.
	KinesisEndpoint string
	// PeerDir is where the peer scenario builds immudb (default
	// $XDG_CACHE_HOME/strand-bench).
	PeerDir string
	// AccessKey, Secret and Region sign requests (defaults: fixed
	// benchmark credentials, us-east-1).
	AccessKey, Secret, Region string
	// Out receives the tables, Progress the progress lines (defaults:
	// stdout, stderr).
	Out, Progress io.Writer
}

func (o *Options) defaults() {
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if len(o.Concurrency) == 0 {
		o.Concurrency = []int{1, 8, 32, 64}
	}
	if o.Blocks <= 0 {
		o.Blocks = 20_000
	}
	if o.Rate <= 0 {
		o.Rate = 1000
	}
	if o.AccessKey == "" {
		o.AccessKey, o.Secret = "AKIDSTRANDBENCH", "strand-bench-secret"
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Progress == nil {
		o.Progress = os.Stderr
	}
}

// Report is the outcome of one scenario, as written to the JSON file.
type Report struct {
	Scenario string    `json:"scenario"`
	Started  time.Time `json:"started"`
	Machine  Machine   `json:"machine"`
	Options  any       `json:"options"`
	Rows     []Row     `json:"rows"`
	// Ratios are the comparisons the scenario exists for, measured in the
	// same run (e.g. "lean_conc32_over_pebble").
	Ratios map[string]float64 `json:"ratios,omitempty"`
	// Notes say what could not be measured and why.
	Notes []string `json:"notes,omitempty"`
}

// Row is one measured point.
type Row struct {
	Name        string  `json:"name"`
	Concurrency int     `json:"concurrency,omitempty"`
	Ops         int64   `json:"ops"`
	Errors      int64   `json:"errors,omitempty"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"per_second"`
	Unit        string  `json:"unit"`
	P50ms       float64 `json:"p50_ms,omitempty"`
	P99ms       float64 `json:"p99_ms,omitempty"`
	P999ms      float64 `json:"p999_ms,omitempty"`
	// ServerCPUus is the server process's CPU time (user + system) per
	// operation, in microseconds; 0 when not known.
	ServerCPUus float64 `json:"server_cpu_us_per_op,omitempty"`
	// Extra holds scenario-specific figures.
	Extra map[string]float64 `json:"extra,omitempty"`
}

// Machine describes where the run happened; the load average matters on a
// shared machine.
type Machine struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go"`
	LoadAvg   string `json:"loadavg"`
	Kernel    string `json:"kernel,omitempty"`
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// WriteJSON writes reports to path as one indented JSON array.
func WriteJSON(path string, reports []*Report) error {
	b, err := json.MarshalIndent(reports, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// latencies collects operation latencies from many goroutines.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d...)
	l.mu.Unlock()
}

// fill sets r's percentiles from the collected latencies.
func (l *latencies) fill(r *Row) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.all) == 0 {
		return
	}
	slices.Sort(l.all)
	pct := func(p float64) float64 {
		i := min(len(l.all)-1, int(p*float64(len(l.all))))
		return float64(l.all[i].Nanoseconds()) / 1e6
	}
	r.P50ms, r.P99ms, r.P999ms = pct(0.50), pct(0.99), pct(0.999)
}

// table prints rows as they are measured, under one header.
type table struct {
	w      io.Writer
	header bool
}

func (t *table) row(r Row) {
	if !t.header {
		fmt.Fprintf(t.w, "%-28s %5s %10s %12s %9s %9s %9s %11s\n", "measure", "conc", "ops", "per second", "p50 ms", "p99 ms", "p99.9 ms", "server µs/op")
		t.header = true
	}
	cpu := "-"
	if r.ServerCPUus > 0 {
		cpu = fmt.Sprintf("%.0f", r.ServerCPUus)
	}
	conc := "-"
	if r.Concurrency > 0 {
		conc = fmt.Sprint(r.Concurrency)
	}
	rate := fmt.Sprintf("%.0f %s", r.PerSecond, r.Unit)
	if r.PerSecond < 100 {
		rate = fmt.Sprintf("%.2f %s", r.PerSecond, r.Unit)
	}
	fmt.Fprintf(t.w, "%-28s %5s %10d %12s %9.2f %9.2f %9.2f %11s\n", r.Name, conc, r.Ops, rate, r.P50ms, r.P99ms, r.P999ms, cpu)
	for _, k := range sortedKeys(r.Extra) {
		fmt.Fprintf(t.w, "%-28s   %s = %.2f\n", "", k, r.Extra[k])
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// printRatios prints a report's ratios and notes after its table.
func printRatios(w io.Writer, rep *Report) {
	for _, k := range sortedKeys(rep.Ratios) {
		fmt.Fprintf(w, "ratio %-40s %.3f\n", k, rep.Ratios[k])
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func timeNow() time.Time { return time.Now().UTC() }

// publicOptions is what a report records of its options (no secrets, no
// writers).
type publicOptions struct {
	Duration    string `json:"duration"`
	Concurrency []int  `json:"concurrency,omitempty"`
	Endpoint    string `json:"endpoint,omitempty"`
	Blocks      int    `json:"blocks,omitempty"`
	Rate        int    `json:"rate,omitempty"`
	Documents   int64  `json:"documents,omitempty"`
	DocsPerTx   int    `json:"docs_per_tx,omitempty"`
}

func (o *Options) public() publicOptions {
	return publicOptions{Duration: o.Duration.String(), Concurrency: o.Concurrency, Endpoint: o.Endpoint, Blocks: o.Blocks, Rate: o.Rate,
		Documents: o.Documents, DocsPerTx: o.DocsPerTx}
}
