package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/store"
)

// backupTempPrefix names the directories under the data directory that hold
// a backup while it is sent; Open removes any left by a crash.
const backupTempPrefix = ".backup-"

// Backup implements api.Backuper: it copies the data directory (tip records,
// then a Pebble checkpoint: see store.Backup) into a directory under the
// data directory (hard links for the table files, so it costs little
// space), streams it to the writer begin returns as a store archive, and
// removes it. One backup runs at a time; a second one is refused with
// ResourceInUseException. On PostgreSQL it answers
// ResourcePreconditionNotMetException: backups are the database's job.
func (n *Node) Backup(ctx context.Context, begin func() io.Writer) error {
	if n.cfg.StoreKind() != config.StorePebble {
		return qldberr.New(qldberr.PreconditionNotMet, "This node's store is PostgreSQL: back it up with PostgreSQL's own tools (pg_dump, or a base backup with WAL archiving; see docs/operations.md, \"Online backup and restore\")")
	}
	if !n.backupMu.TryLock() {
		return qldberr.New(qldberr.ResourceInUse, "A backup is already running on this node; retry when it has finished")
	}
	defer n.backupMu.Unlock()
	start := time.Now()
	tmp, err := os.MkdirTemp(n.cfg.DataDir, backupTempPrefix)
	if err != nil {
		return fmt.Errorf("server: backup: %w", err)
	}
	defer os.RemoveAll(tmp)
	copyDir := filepath.Join(tmp, "data")
	if err := store.Backup(n.store, n.tips, copyDir); err != nil {
		if errors.Is(err, store.ErrNoCheckpoint) {
			return qldberr.New(qldberr.PreconditionNotMet, "This node's store cannot make a checkpoint")
		}
		return fmt.Errorf("server: backup: %w", err)
	}
	if err := dropDeletedTips(copyDir, n.ledgers.IDs()); err != nil {
		return fmt.Errorf("server: backup: %w", err)
	}
	checkpointed := time.Since(start)
	stats, err := store.WriteArchive(ctx, begin(), copyDir)
	if err != nil {
		return fmt.Errorf("server: backup: %w", err)
	}
	n.log.Info("backup streamed", "files", stats.Files, "bytes", stats.Bytes,
		"checkpoint", checkpointed.Round(time.Millisecond), "total", time.Since(start).Round(time.Millisecond))
	return nil
}

// removeBackupLeftovers removes the temporary backup directories a crash
// left in the data directory (the caller holds the directory's lock).
func removeBackupLeftovers(dataDir string) error {
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), backupTempPrefix) {
			if err := os.RemoveAll(filepath.Join(dataDir, e.Name())); err != nil {
				return fmt.Errorf("server: removing a backup's leftover: %w", err)
			}
		}
	}
	return nil
}

// dropDeletedTips removes from a backup's tip records those of ledgers no
// longer in the catalogue (live, read after the checkpoint): a ledger
// deleted between the copy of its record and the checkpoint would
// otherwise leave a record the copy's catalogue does not know, which
// start-up and strand verify report as a ledger the catalogue may have
// lost. A ledger deleted after the checkpoint loses its record in the copy
// too, which only means its record is rewritten at the copy's first start.
func dropDeletedTips(copyDir string, live map[string]bool) error {
	tips := store.NewTipFiles(copyDir)
	defer tips.Close()
	ids, err := tips.LedgerIDs()
	if err != nil {
		return err
	}
	for _, id := range ids {
		if !live[id] {
			if err := tips.Remove(id); err != nil {
				return err
			}
		}
	}
	return nil
}
