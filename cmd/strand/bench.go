package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/strand-db/strand/internal/bench"
)

// benchScenarios maps each `strand bench` scenario to its runner, in the
// order `strand bench all` runs them.
var benchScenarios = []struct {
	name string
	run  func(context.Context, bench.Options) (*bench.Report, error)
}{
	{"commit", bench.Commit},
	{"verify", bench.Verify},
	{"stream", bench.Stream},
	{"memory", bench.Memory},
	{"peer", bench.Peer},
}

// benchCmd runs `strand bench SCENARIO... [flags]`: each scenario prints
// progress on stderr and its table on stdout, and with --json all reports
// go to one file. Exit status 0 when every scenario ran, 1 when one failed,
// 2 on bad usage.
func benchCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("strand bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o bench.Options
	fs.DurationVar(&o.Duration, "duration", 0, "how long each measured point runs (default 10s)")
	conc := fs.String("concurrency", "", "comma-separated client counts of the commit scenario (default 1,8,32,64)")
	fs.StringVar(&o.Endpoint, "endpoint", "", "measure this running server instead of starting one (it must accept --access-key-id/--secret-access-key)")
	fs.IntVar(&o.PID, "pid", 0, "process id of the --endpoint server, for its CPU time and memory")
	fs.StringVar(&o.Exe, "server-binary", "", "strand binary to start as the server (default: this one), e.g. an older build for a before/after comparison")
	fs.StringVar(&o.Dir, "dir", "", "working directory for the servers' data (default: a temporary directory, removed afterwards)")
	fs.IntVar(&o.Blocks, "blocks", 0, "journal size N of the verify, stream backfill and memory scenarios (default 20000)")
	fs.Int64Var(&o.Documents, "documents", 0, "documents of the memory scenario (default: --blocks); with --dir the data is kept and topped up on the next run")
	fs.IntVar(&o.DocsPerTx, "docs-per-tx", 0, "documents per transaction when the memory scenario fills its ledger, 1 to 40 (QLDB's quota; default 40)")
	fs.IntVar(&o.Rate, "rate", 0, "commit rate of the stream scenario, tx/s (default 1000)")
	fs.StringVar(&o.KinesisEndpoint, "kinesis-endpoint", "", "Kinesis emulator of the stream scenario (default: start kinesalite from tools/kinesis)")
	fs.StringVar(&o.PeerDir, "peer-dir", "", "cache directory where the peer scenario builds immudb")
	fs.StringVar(&o.AccessKey, "access-key-id", "", "access key id to sign with (default: the benchmark's own, given to the child server)")
	fs.StringVar(&o.Secret, "secret-access-key", "", "secret of --access-key-id")
	jsonPath := fs.String("json", "", "write the reports to this file as JSON")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: strand bench [flags] SCENARIO...   (commit, verify, stream, memory, peer, or all)\n\n"+
			"Measures a strand server started as a child process (or --endpoint) from a load generator\n"+
			"in this process; see BENCHMARKS.md. Tables go to stdout, progress to stderr.\n\n")
		fs.PrintDefaults()
	}
	// Flags may come before or after the scenario names.
	var names []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if *conc != "" {
		for _, s := range strings.Split(*conc, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 {
				fmt.Fprintf(stderr, "strand bench: bad --concurrency %q\n", *conc)
				return 2
			}
			o.Concurrency = append(o.Concurrency, n)
		}
	}
	if len(names) == 0 {
		fs.Usage()
		return 2
	}
	var runs []func(context.Context, bench.Options) (*bench.Report, error)
	for _, n := range names {
		found := false
		for _, s := range benchScenarios {
			if n == s.name || n == "all" {
				runs = append(runs, s.run)
				found = true
			}
		}
		if !found {
			fmt.Fprintf(stderr, "strand bench: unknown scenario %q\n", n)
			return 2
		}
	}
	o.Out, o.Progress = stdout, stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var reports []*bench.Report
	status := 0
	for _, run := range runs {
		rep, err := run(ctx, o)
		if rep != nil {
			reports = append(reports, rep)
		}
		if err != nil {
			fmt.Fprintln(stderr, "strand bench:", err)
			status = 1
		}
		if ctx.Err() != nil {
			break
		}
	}
	if *jsonPath != "" {
		if err := bench.WriteJSON(*jsonPath, reports); err != nil {
			fmt.Fprintln(stderr, "strand bench:", err)
			return 1
		}
	}
	return status
}
