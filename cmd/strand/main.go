// Command strand is a self-hosted, Amazon QLDB-compatible ledger database.
//
//	strand serve [flags]   run the server (strand serve -h lists the flags)
//	strand verify [flags]  check a data directory offline (strand verify -h)
//	strand backup --endpoint URL --to DIR  online backup of a running server
//	strand repair accept-journal-loss [flags]  serve a ledger that lost acknowledged blocks
//	strand repair rebuild-derived [flags]      rebuild a ledger's derived records from its journal
//	strand bench SCENARIO... [flags]  measure a server (commit, verify, stream, memory, peer)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
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
                          (upper case, dashes as underscores), e.g. STRAND_DATA_DIR
  strand verify (--data-dir DIR | --store postgres://...) [--ledger NAME]
                          check a stopped server's data offline: every block hash, the
                          hash chain, the ledger Merkle tree and every stored revision
                          copy; exit 0 when all hold, 1 naming the first bad block,
                          2 when the check could not run (strand verify -h for more)
  strand backup --endpoint URL --to DIR
                          take an online backup of a running server (embedded store)
                          into a new data directory: every commit acknowledged before
                          it began; serve or verify DIR like any data directory
  strand repair accept-journal-loss --data-dir DIR --ledger NAME
                          accept that a ledger's journal lost acknowledged blocks (the
                          server refuses the ledger until then); prints what is lost
  strand repair rebuild-derived (--data-dir DIR | --store postgres://...) --ledger NAME
                          delete a ledger's derived records (documents, history, indexes,
                          revision lookup, Merkle tree) and rebuild them from its journal
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
	case "repair":
		return repairCmd(args[1:], os.Stdout, os.Stderr)
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
	if err := cfg.Parse(fs, args, os.Getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "strand:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
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
	fmt.Printf("strand listening on %s\n  %s\n  authentication: %s\n", node.URL(), node.StoreDescription(), node.AuthMode())
	if kc := node.KinesisCredentials(); kc != "" {
		fmt.Printf("  kinesis credentials: %s\n", kc)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
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
