package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/qldb"

	"github.com/strand-db/strand/internal/stream"
	"github.com/strand-db/strand/internal/streamtail"
)

// streamCmd is `strand stream SUBCOMMAND`; only tail exists.
func streamCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "tail" {
		fmt.Fprintln(stderr, "usage: strand stream tail (--stream-arn ARN [--endpoint URL] | --kinesis-stream-arn ARN) [flags] (strand stream tail -h)")
		return 2
	}
	return streamTailCmd(args[1:], stdout, stderr)
}

// qldbStreamARN matches arn:aws:qldb:<region>:<account>:stream/<ledger>/<id>.
var qldbStreamARN = regexp.MustCompile(`^arn:aws[a-z-]*:qldb:([a-z0-9-]+):(\d{12}):stream/([A-Za-z0-9_-]+)/([A-Za-z0-9]+)$`)

// streamTailCmd is `strand stream tail`: print (and optionally verify) what
// a journal stream delivered to its Kinesis stream. Exit status: 0, 1 when
// --verify found a problem or gap, 2 when the tail could not run.
func streamTailCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("strand stream tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	streamARN := fs.String("stream-arn", "", "ARN of the journal stream (arn:aws:qldb:REGION:ACCOUNT:stream/LEDGER/ID); its Kinesis destination is looked up with DescribeJournalKinesisStream")
	endpoint := fs.String("endpoint", "", "QLDB control-plane endpoint for the look-up, e.g. http://127.0.0.1:8000 (default: AWS)")
	kinesisARN := fs.String("kinesis-stream-arn", "", "read this Kinesis stream directly instead of looking one up")
	kinesisEndpoint := fs.String("kinesis-endpoint", "", "Kinesis endpoint, e.g. an emulator's http://127.0.0.1:4567 (default: AWS in the stream's region)")
	region := fs.String("region", "", "AWS region for the look-up (default: from the stream ARN, else the AWS configuration)")
	from := fs.String("from", "trim-horizon", "where to start: trim-horizon, latest, or a time (RFC 3339, e.g. 2026-01-02T15:04:05Z)")
	format := fs.String("format", "ion", "output: ion (pretty-printed records) or json (one line per record); none prints no records")
	verify := fs.Bool("verify", false, "recompute revision and block hashes, check the block chain, report gaps and duplicates")
	noFollow := fs.Bool("no-follow", false, "stop once every shard is read to its end (default: keep following)")
	poll := fs.Duration("poll", time.Second, "how often an idle shard is polled")
	limit := fs.Int("limit", 0, "records per GetRecords call, 1 to 10000 (default: Kinesis's, 10000)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: strand stream tail (--stream-arn ARN [--endpoint URL] | --kinesis-stream-arn ARN) [--kinesis-endpoint URL] [--from trim-horizon|latest|TIME] [--format ion|json] [--verify] [--no-follow]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "strand stream tail: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if (*streamARN == "") == (*kinesisARN == "") {
		return usageErr("give exactly one of --stream-arn and --kinesis-stream-arn")
	}
	if *format != "ion" && *format != "json" && *format != "none" {
		return usageErr("--format takes ion, json or none, not %q", *format)
	}
	if *limit < 0 || *limit > 10000 {
		return usageErr("--limit takes 1 to 10000, not %d", *limit)
	}
	opts := streamtail.Options{Follow: !*noFollow, Poll: *poll, Limit: int32(*limit)}
	switch *from {
	case "trim-horizon":
		opts.From = streamtail.TrimHorizon
	case "latest":
		opts.From = streamtail.Latest
	default:
		t, err := time.Parse(time.RFC3339Nano, *from)
		if err != nil {
			return usageErr("--from takes trim-horizon, latest or an RFC 3339 time, not %q", *from)
		}
		opts.From, opts.Time = streamtail.AtTime, t
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dest := *kinesisARN
	if *streamARN != "" {
		m := qldbStreamARN.FindStringSubmatch(*streamARN)
		if m == nil {
			return usageErr("%q is not a journal stream ARN (arn:aws:qldb:REGION:ACCOUNT:stream/LEDGER/ID)", *streamARN)
		}
		r := *region
		if r == "" {
			r = m[1]
		}
		cfg, err := loadAWSConfig(ctx, r)
		if err != nil {
			return usageErr("%v", err)
		}
		qc := qldb.NewFromConfig(cfg, func(o *qldb.Options) {
			if *endpoint != "" {
				o.BaseEndpoint = aws.String(*endpoint)
			}
		})
		out, err := qc.DescribeJournalKinesisStream(ctx, &qldb.DescribeJournalKinesisStreamInput{LedgerName: aws.String(m[3]), StreamId: aws.String(m[4])})
		if err != nil {
			fmt.Fprintf(stderr, "strand stream tail: DescribeJournalKinesisStream: %v\n", err)
			return 2
		}
		if out.Stream == nil || out.Stream.KinesisConfiguration == nil || out.Stream.KinesisConfiguration.StreamArn == nil {
			fmt.Fprintln(stderr, "strand stream tail: DescribeJournalKinesisStream returned no Kinesis stream ARN")
			return 2
		}
		dest = *out.Stream.KinesisConfiguration.StreamArn
		fmt.Fprintf(stderr, "journal stream %s (%s) delivers to %s\n", *streamARN, out.Stream.Status, dest)
	}
	d, err := stream.ParseDestination(dest)
	if err != nil {
		return usageErr("%v", err)
	}
	kcfg, err := loadAWSConfig(ctx, d.Region) // Kinesis is called in the stream's own region
	if err != nil {
		return usageErr("%v", err)
	}
	opts.Client = kinesis.NewFromConfig(kcfg, func(o *kinesis.Options) {
		if *kinesisEndpoint != "" {
			o.BaseEndpoint = aws.String(*kinesisEndpoint)
		}
	})
	opts.StreamName = d.Name

	var v *streamtail.Verifier
	if *verify {
		v = streamtail.NewVerifier(func(p string) { fmt.Fprintln(stderr, "verify: PROBLEM:", p) })
	}
	opts.OnRecord = func(rec streamtail.Delivered) error {
		if v != nil {
			v.Add(rec)
		}
		if rec.DecodeErr != nil {
			if v == nil {
				fmt.Fprintf(stderr, "warning: record %s of %s: %v\n", rec.SequenceNumber, rec.ShardID, rec.DecodeErr)
			}
			return nil
		}
		var text string
		switch *format {
		case "ion":
			text, err = streamtail.FormatIon(rec.Data)
		case "json":
			text, err = streamtail.FormatJSON(rec.Data)
		default:
			return nil
		}
		if err != nil {
			return err
		}
		_, err := fmt.Fprintln(stdout, text)
		return err
	}
	var lastGaps string
	caughtUp := false
	opts.OnCaughtUp = func() {
		if !opts.Follow {
			return
		}
		if !caughtUp {
			caughtUp = true
			fmt.Fprintln(stderr, "caught up with every shard; following (Ctrl-C to stop)")
		}
		if v == nil {
			return
		}
		gaps := v.Gaps()
		if g := strings.Join(gaps, "\n"); g != lastGaps {
			lastGaps = g
			for _, line := range gaps {
				fmt.Fprintln(stderr, "verify: so far:", line)
			}
		}
	}
	fmt.Fprintf(stderr, "reading Kinesis stream %s from %s\n", d.Name, *from)
	err = streamtail.Tail(ctx, opts)
	status := 0
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "strand stream tail:", err)
		status = 2
	}
	if v != nil {
		gaps := v.Gaps()
		for _, line := range gaps {
			fmt.Fprintln(stderr, "verify: PROBLEM:", line)
		}
		for _, line := range v.Summary() {
			fmt.Fprintln(stderr, "verify:", line)
		}
		problems := v.Problems() + len(gaps)
		if problems > 0 {
			fmt.Fprintf(stderr, "verify: FAILED: %d problem%s\n", problems, map[bool]string{true: "", false: "s"}[problems == 1])
			if status == 0 {
				status = 1
			}
		} else if status == 0 {
			fmt.Fprintln(stderr, "verify: OK: every hash recomputes, the blocks chain, no gaps")
		}
	}
	return status
}
