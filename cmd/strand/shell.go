package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"

	"github.com/strand-db/strand/internal/server/plainbody"
	"github.com/strand-db/strand/internal/shell"
)

// shellCmd is `strand shell`: an interactive PartiQL shell on one ledger
// (see internal/shell). Credentials and region come from the AWS SDK's
// default chain (AWS_* variables, ~/.aws/config and credentials, SSO, IMDS).
func shellCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("strand shell", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ledger := fs.String("ledger", "", "ledger to connect to (required)")
	endpoint := fs.String("endpoint", "", "QLDB session endpoint, e.g. http://127.0.0.1:8000 (default: the AWS endpoint of the region)")
	region := fs.String("region", "", "AWS region (default: from the AWS configuration, else us-east-1)")
	format := fs.String("format", "ion", "how results are shown: ion (pretty-printed) or table")
	histFile := fs.String("history-file", "", "history file (default: $HOME/.strand_shell_history; \"none\" keeps no history)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: strand shell --ledger NAME [--endpoint URL] [--region R] [--format ion|table]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *ledger == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "strand shell: --ledger NAME is required and no other arguments are taken")
		fs.Usage()
		return 2
	}
	if *format != "ion" && *format != "table" {
		fmt.Fprintf(stderr, "strand shell: --format takes ion or table, not %q\n", *format)
		return 2
	}
	ctx := context.Background()
	cfg, err := loadAWSConfig(ctx, *region)
	if err != nil {
		fmt.Fprintln(stderr, "strand shell:", err)
		return 2
	}
	client := qldbsession.NewFromConfig(cfg, func(o *qldbsession.Options) {
		if *endpoint != "" {
			o.BaseEndpoint = aws.String(*endpoint)
		}
	})

	path := *histFile
	if path == "" {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, ".strand_shell_history")
		}
	}
	if path == "none" {
		path = ""
	}
	warn := func(err error) { fmt.Fprintln(stderr, "warning:", err) }
	hist, err := shell.OpenHistory(path, warn)
	if err != nil {
		warn(err)
		hist, _ = shell.OpenHistory("", nil)
	}

	opts := shell.Options{Ledger: *ledger, Client: client, Format: *format, Out: stdout, Err: stderr}
	if f, ok := stdin.(*os.File); ok && shell.IsTerminal(int(f.Fd())) {
		opts.Interactive = true
		opts.History = hist
		opts.Lines = shell.NewTerminal(f, int(f.Fd()), stdout, hist)
	} else {
		opts.Lines = shell.NewPipeReader(stdin)
	}
	return shell.Run(ctx, opts)
}

// loadAWSConfig loads the SDK's default configuration (credentials and
// region from the usual places), with region overriding it when set and
// us-east-1 when nothing names one. The HTTP client is wrapped in plainbody,
// as docs/compatibility.md recommends for Go clients of Strand.
func loadAWSConfig(ctx context.Context, region string) (aws.Config, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.HTTPClient != nil {
		cfg.HTTPClient = plainbody.Wrap(cfg.HTTPClient)
	}
	return cfg, nil
}
