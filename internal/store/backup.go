package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrNoCheckpoint is returned (wrapped) by Backup for a store that cannot
// copy itself (one that is not a Checkpointer, such as PostgreSQL, whose
// backups are the database's own tools' job).
var ErrNoCheckpoint = errors.New("store: this store cannot make a checkpoint")

// Checkpointer is implemented by a Store that can copy itself while it
// serves (pebblestore.Store does).
type Checkpointer interface {
	// Checkpoint writes a copy of the store into the data directory dst
	// (created when missing; it must not hold a store already), laid out
	// so that the implementation's Open of dst reads it. The copy is one
	// state the store was in: every Apply that returned before Checkpoint
	// was called is in it, and of the Applys running during the call each
	// is in it whole or not at all, a later one only with every earlier
	// one. It does not stop concurrent reads and writes.
	Checkpoint(dst string) error
}

// Backup copies the data directory of st, a Checkpointer, and its tip
// records into dst, which becomes a data directory a server opens like
// any other (without a lock file: Open takes its own). tips may be nil
// when the data directory keeps none.
//
// The tip records are copied first, then the store: a record is written
// only after the blocks it names were applied (journal.Group.Commit), so
// every record copied before the checkpoint names blocks the checkpoint
// holds. The copy's journal is at or beyond its records, never behind
// them, which the journal's check at open would rightly read as lost
// acknowledged blocks; records behind the journal are brought forward at
// open, as after a crash between a group's commit and its record.
func Backup(st Store, tips *TipFiles, dst string) error {
	cp, ok := st.(Checkpointer)
	if !ok {
		return fmt.Errorf("store: backup: %w (%T)", ErrNoCheckpoint, st)
	}
	if err := os.MkdirAll(dst, 0o750); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if tips != nil {
		if err := tips.CopyTo(dst); err != nil {
			return fmt.Errorf("store: backup: %w", err)
		}
	}
	if err := cp.Checkpoint(dst); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	return nil
}

// CopyTo writes the newest valid record of every ledger into the tip record
// directory of the data directory dstDataDir, each as a fresh file holding
// that one record, fsynced. A ledger whose file holds no valid record is
// copied as it is (the copy then reports it just as the original would).
// Records written concurrently are either copied or not: a slot being
// written reads as invalid, and the other slot's older record is taken.
func (t *TipFiles) CopyTo(dstDataDir string) error {
	ids, err := t.LedgerIDs()
	if err != nil {
		return err
	}
	dst := NewTipFiles(dstDataDir)
	defer dst.Close()
	if err := os.MkdirAll(dst.dir, 0o750); err != nil {
		return fmt.Errorf("store: tip records: %w", err)
	}
	for _, id := range ids {
		rec, ok, err := t.Load(id)
		switch {
		case errors.Is(err, ErrTipRecordCorrupt):
			raw, rerr := os.ReadFile(t.path(id))
			if rerr != nil {
				return fmt.Errorf("store: tip records: %w", rerr)
			}
			if werr := writeSynced(dst.path(id), raw); werr != nil {
				return fmt.Errorf("store: tip records: %w", werr)
			}
			continue
		case err != nil:
			return err
		case !ok: // removed meanwhile (its ledger was deleted)
			continue
		}
		if err := dst.Record(rec); err != nil {
			return err
		}
	}
	if err := syncDir(dst.dir); err != nil {
		return fmt.Errorf("store: tip records: %w", err)
	}
	return nil
}

// writeSynced writes a new file and fsyncs it.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(filepath.Clean(path), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
