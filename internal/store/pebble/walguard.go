package pebblestore

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// walGuard is the file system the store hands to Pebble: the caller's (or
// the operating system's), except that a failure to create a new
// write-ahead log file does not reach Pebble. Pebble panics when it cannot
// create the next log file while rotating its memtable, and the panic,
// unwinding through a deferred unlock of a mutex Pebble had already
// released, ends the process with a runtime fatal error that no recover
// can stop. Instead the store enters its failed state (Store.Failure:
// commits refused until it is reopened, reads served) and Pebble gets a
// file on which every write and sync fails with the cause, so that the
// commit that needed the new log fails through Pebble's ordinary "fatal
// commit error" path, which the store already survives (see quietLogger).
// Nothing is written to that file and no file exists on disk: when the
// store is reopened, Pebble replays the logs that do exist, which hold
// every acknowledged commit.
type walGuard struct {
	vfs.FS
	s *Store
}

func isWAL(name string) bool { return strings.HasSuffix(filepath.Base(name), ".log") }

// Create implements vfs.FS.
func (g walGuard) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := g.FS.Create(name, c)
	if err != nil && isWAL(name) {
		return g.failedWAL(name, err), nil
	}
	return f, err
}

// ReuseForWrite implements vfs.FS (Pebble recycles old log files).
func (g walGuard) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := g.FS.ReuseForWrite(oldname, newname, c)
	if err != nil && isWAL(newname) {
		return g.failedWAL(newname, err), nil
	}
	return f, err
}

func (g walGuard) failedWAL(name string, err error) vfs.File {
	msg := fmt.Sprintf("could not create a new write-ahead log file %s: ", filepath.Base(name))
	g.s.fail(msg+err.Error(), err)
	return deadFile{err: fmt.Errorf("store: %s%w", msg, err)}
}

// deadFile is a log file that could not be created: every operation but
// Close fails with err.
type deadFile struct{ err error }

func (f deadFile) Close() error                       { return nil }
func (f deadFile) Read([]byte) (int, error)           { return 0, f.err }
func (f deadFile) ReadAt([]byte, int64) (int, error)  { return 0, f.err }
func (f deadFile) Write([]byte) (int, error)          { return 0, f.err }
func (f deadFile) WriteAt([]byte, int64) (int, error) { return 0, f.err }
func (f deadFile) Preallocate(int64, int64) error     { return nil }
func (f deadFile) Stat() (vfs.FileInfo, error)        { return nil, f.err }
func (f deadFile) Sync() error                        { return f.err }
func (f deadFile) SyncTo(int64) (bool, error)         { return false, f.err }
func (f deadFile) SyncData() error                    { return f.err }
func (f deadFile) Prefetch(int64, int64) error        { return nil }
func (f deadFile) Fd() uintptr                        { return vfs.InvalidFd }
