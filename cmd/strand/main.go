// Command strand is a self-hosted, Amazon QLDB-compatible ledger database.
//
//	strand serve [flags]   run the server (strand serve -h lists the flags)
//	strand verify [flags]  check a data directory offline (strand verify -h)
//	strand backup --endpoint URL --to DIR  online backup of a running server
//	strand policy reload --endpoint URL    reload a running server's --policy-file
//	strand repair accept-journal-loss [flags]  serve a ledger that lost acknowledged blocks
//	strand repair rebuild-derived [flags]      rebuild a ledger's derived records from its journal
//	strand shell --ledger NAME [flags]         interactive PartiQL shell (docs/tools.md)
//	strand stream tail [flags]                 print and verify a journal stream's Kinesis records
//	strand health [--endpoint URL] [--ready]  ask a running server's /health or /ready
//	strand version         the module version and VCS commit (also --version)
//	strand bench SCENARIO... [flags]  measure a server (commit, verify, stream, memory, peer)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func usage() {
	fmt.Fprintf(os.Stderr, `strand: a self-hosted, Amazon QLDB-compatible ledger database

Usage:
  strand serve [flags]    run the server; every flag can also be set as STRAND_<FLAG>
                          (upper case, dashes as underscores), e.g. STRAND_DATA_DIR, or
                          in a YAML file given by --config (strand serve -h lists all)
  strand verify (--data-dir DIR | --store postgres://...) [--ledger NAME]
                          check a stopped server's data offline: every block hash, the
                          hash chain, the ledger Merkle tree and every stored revision
                          copy; exit 0 when all hold, 1 naming the first bad block,
                          2 when the check could not run (strand verify -h for more)
  strand backup --endpoint URL --to DIR
                          take an online backup of a running server (embedded store)
                          into a new data directory: every commit acknowledged before
                          it began; serve or verify DIR like any data directory
  strand policy reload --endpoint URL
                          make a running server reload its --policy-file (as SIGHUP
                          does) and print what changed
  strand repair accept-journal-loss --data-dir DIR --ledger NAME
                          accept that a ledger's journal lost acknowledged blocks (the
                          server refuses the ledger until then); prints what is lost
  strand repair rebuild-derived (--data-dir DIR | --store postgres://...) --ledger NAME
                          delete a ledger's derived records (documents, history, indexes,
                          revision lookup, Merkle tree) and rebuild them from its journal
  strand shell --ledger NAME [--endpoint URL] [--region R] [--format ion|table]
                          interactive PartiQL shell (statements from a pipe for scripts)
  strand stream tail (--stream-arn ARN [--endpoint URL] | --kinesis-stream-arn ARN)
                          [--kinesis-endpoint URL] [--from trim-horizon|latest|TIME]
                          [--format ion|json] [--verify] [--no-follow]
                          print (and verify) what a journal stream delivers to Kinesis
  strand health [--endpoint URL] [--ready]
                          ask a running server's /health (or /ready); exit 0 when it
                          answers 200 (for container health checks without curl)
  strand version          the module version, VCS commit and Go version (also --version)
  strand import --ledger NAME --from s3://BUCKET/PREFIX|DIR [--s3-endpoint URL] [--digest FILE]
                          load a QLDB journal export into a new ledger of a stopped server's
                          data (--data-dir or --store), keeping its hashes; checks every block first
  strand bench SCENARIO... [flags]
                          measure commit, verify, stream, memory or peer (all) against
                          a child server; tables on stdout, --json FILE (strand bench -h)
  strand help             this text
`)
}

func run(args []string) int {
	if len(args) == 0 {
		usage()
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:])
	case "verify":
		return verifyCmd(args[1:], os.Stdout, os.Stderr)
	case "backup":
		return backupCmd(args[1:], os.Stdout, os.Stderr)
	case "health":
		return healthCmd(args[1:], os.Stdout, os.Stderr)
	case "policy":
		return policyCmd(args[1:], os.Stdout, os.Stderr)
	case "repair":
		return repairCmd(args[1:], os.Stdout, os.Stderr)
	case "shell":
		return shellCmd(args[1:], os.Stdin, os.Stdout, os.Stderr)
	case "stream":
		return streamCmd(args[1:], os.Stdout, os.Stderr)
	case "version", "-version", "--version":
		fmt.Println(versionString())
		return 0
	case "import":
		return importCmd(args[1:], os.Stdout, os.Stderr)
	case "bench":
		return benchCmd(args[1:], os.Stdout, os.Stderr)
	case "help", "-h", "--help":
		usage()
		return 0
	default:
		fmt.Fprintf(os.Stderr, "strand: unknown command %q\n", args[0])
		usage()
		return 2
	}
}

func serve(args []string) int {
	cfg := config.Default()
	fs := flag.NewFlagSet("strand serve", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: strand serve [flags]\n\nEvery setting, with its default, its environment variable and its configuration-file key:\n\n")
		config.PrintSettings(fs.Output(), fs)
	}
	if err := cfg.Parse(fs, args, os.Getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "strand:", err)
		return 2
	}
	log := cfg.NewLogger(os.Stderr)
	if limit, ok := cfg.GoMemoryLimit(os.Getenv); ok {
		debug.SetMemoryLimit(limit)
	}
	if cfg.SecretOnCommandLine {
		log.Warn("--secret-access-key was given on the command line, where other users of this machine can read it (ps, /proc); set STRAND_SECRET_ACCESS_KEY or use --credentials-file instead")
	}
	node, err := server.Open(cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "strand:", err)
		return 1
	}
	if err := node.Listen(); err != nil {
		node.Close()
		fmt.Fprintln(os.Stderr, "strand:", err)
		return 1
	}
	for i, line := range node.Summary() {
		if i == 0 {
			fmt.Printf("strand %s\n", line)
			continue
		}
		fmt.Printf("  %s\n", line)
	}
	fmt.Printf("  version: %s\n", versionString())
	// Warn, without delaying the start, about streams that cannot deliver.
	go node.WarnUnreachableStreams(15 * time.Second)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			_, _ = node.ReloadPolicies() // logs what changed, or why not
		}
	}()
	done := make(chan error, 1)
	go func() { done <- node.Serve() }()
	select {
	case err := <-done:
		node.Close()
		if err != nil {
			fmt.Fprintln(os.Stderr, "strand:", err)
			return 1
		}
		return 0
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := node.Shutdown(sctx); err != nil {
		fmt.Fprintln(os.Stderr, "strand: shutdown:", err)
		return 1
	}
	<-done
	log.Info("stopped cleanly")
	return 0
}
