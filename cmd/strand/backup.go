package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/strand-db/strand/internal/api"
	"github.com/strand-db/strand/internal/store"
)

// backupCmd runs `strand backup`: it asks a running server for an online
// backup (POST /strand/backup, signed with the standard AWS credential
// chain) and unpacks it into a new data directory. Exit status 0 when the
// whole backup is written and synced, 1 when the server refused it or it
// failed (nothing is left in --to), 2 for bad usage.
func backupCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("strand backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := fs.String("endpoint", "", "URL of the running strand server, e.g. http://127.0.0.1:8410")
	to := fs.String("to", "", "directory to write the backup to: a new or empty directory, which becomes a data directory for strand serve / strand verify --data-dir")
	region := fs.String("region", "us-east-1", "region the server answers as (the SigV4 scope)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: strand backup --endpoint URL --to DIR [--region REGION]

Takes an online backup of a running strand server (embedded store) into DIR:
a consistent copy holding every commit acknowledged before the backup began.
The request is signed with the standard AWS credentials (AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...); a server with credentials allows
only the access keys of its --backup-access-key-id. Restore by starting
strand serve --data-dir DIR. Exit status: 0 written, 1 failed, 2 bad usage.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *endpoint == "" || *to == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "strand backup: --endpoint and --to are required (strand backup -h)")
		return 2
	}
	created, err := prepareBackupDir(*to)
	if err != nil {
		fmt.Fprintln(stderr, "strand backup:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	stats, err := fetchBackup(ctx, *endpoint, *region, *to)
	if err != nil {
		cleanBackupDir(*to, created)
		fmt.Fprintln(stderr, "strand backup:", err)
		return 1
	}
	fmt.Fprintf(stdout, "backup of %s written to %s: %d files, %d bytes in %s\nrestore: strand serve --data-dir %s\n",
		*endpoint, *to, stats.Files, stats.Bytes, time.Since(start).Round(time.Millisecond), *to)
	return 0
}

// prepareBackupDir makes sure dir is an empty directory, creating it (and
// reporting so) when it does not exist.
func prepareBackupDir(dir string) (created bool, err error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return false, err
		}
		return true, nil
	case err != nil:
		return false, err
	case len(entries) > 0:
		return false, fmt.Errorf("--to %s is not empty: a backup goes into a new or empty directory", dir)
	}
	return false, nil
}

// cleanBackupDir removes what a failed backup wrote.
func cleanBackupDir(dir string, created bool) {
	if created {
		_ = os.RemoveAll(dir)
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// fetchBackup sends the signed request and extracts the answer into dir.
func fetchBackup(ctx context.Context, endpoint, region, dir string) (store.ArchiveStats, error) {
	resp, err := postAdmin(ctx, endpoint, api.BackupPath, region, "backup")
	if err != nil {
		return store.ArchiveStats{}, err
	}
	defer resp.Body.Close()
	stats, err := store.ExtractArchive(resp.Body, dir)
	if err != nil {
		return stats, err
	}
	return stats, syncParent(dir)
}

// syncParent fsyncs the directory holding dir, so that dir's own entry is
// durable.
func syncParent(dir string) error {
	d, err := os.Open(filepath.Dir(filepath.Clean(dir)))
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
