// Package faultfs is a Pebble file system for tests that fails the way a
// disk does: it wraps a vfs.FS (the operating system's, or an in-memory one
// that can simulate a crash) and, once told to, fails writes or syncs of
// chosen kinds of file with a chosen error (EIO, ENOSPC), or cuts the next
// write of a file short. Hand it to the embedded store as
// pebblestore.Options.FS. Callers outside internal/store use it without
// importing Pebble.
package faultfs

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Kind is a kind of Pebble file, told apart by its name.
type Kind int

// The kinds of file a fault applies to.
const (
	Any      Kind = iota
	WAL           // NNNNNN.log, the write-ahead log
	Table         // NNNNNN.sst
	Manifest      // MANIFEST-NNNNNN
)

func (k Kind) String() string {
	return [...]string{"any file", "WAL", "table", "MANIFEST"}[k]
}

func kindOf(name string) Kind {
	base := filepath.Base(name)
	switch {
	case strings.HasSuffix(base, ".log"):
		return WAL
	case strings.HasSuffix(base, ".sst"):
		return Table
	case strings.HasPrefix(base, "MANIFEST-"):
		return Manifest
	}
	return Any
}

// Op is the operation a fault fails.
type Op int

// The operations a fault applies to.
const (
	Write  Op = iota // Write and WriteAt (and creating a file)
	Sync             // Sync, SyncData, SyncTo
	Create           // creating a file only (Create, ReuseForWrite)
)

// The errors a failing disk returns.
var (
	EIO    error = syscall.EIO
	ENOSPC error = syscall.ENOSPC
)

type fault struct {
	kind Kind
	op   Op
	err  error
}

// FS is a vfs.FS with injectable faults; its zero value is not usable (New,
// NewCrashable). It is safe for concurrent use.
type FS struct {
	vfs.FS
	mem *vfs.MemFS // set by NewCrashable

	mu     sync.Mutex
	faults []fault
	torn   Kind // cut the next write of this kind short (tornSet)
	tornOn bool

	injected  atomic.Int64
	syncDelay atomic.Int64 // nanoseconds every sync takes longer (SlowSyncs)
}

// SlowSyncs makes every later sync take d longer, as a disk whose cache
// flush is slow (a network volume) would: for measuring, not a fault.
func (f *FS) SlowSyncs(d time.Duration) { f.syncDelay.Store(int64(d)) }

// New wraps base (nil: the operating system's file system).
func New(base vfs.FS) *FS {
	if base == nil {
		base = vfs.Default
	}
	return &FS{FS: base}
}

// NewCrashable returns an empty in-memory file system whose state after a
// crash can be taken with Crash: only what was synced survives for sure.
func NewCrashable() *FS {
	mem := vfs.NewCrashableMem()
	return &FS{FS: mem, mem: mem}
}

// Fail makes every later op on files of kind (Any: every file) fail with
// err, until Clear.
func (f *FS) Fail(kind Kind, op Op, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, fault{kind, op, err})
}

// TearNextWrite makes the next write to a file of kind write only the first
// half of its bytes and fail with EIO, as a write cut short by power loss.
func (f *FS) TearNextWrite(kind Kind) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.torn, f.tornOn = kind, true
}

// Clear removes every fault: the disk works again.
func (f *FS) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults, f.tornOn = nil, false
}

// Injected returns the number of operations failed so far.
func (f *FS) Injected() int64 { return f.injected.Load() }

// Crash returns, as a new FS without faults, a state the disk could be in
// after a crash at this moment: everything synced, and each unsynced block
// of data kept with probability unsyncedPercent (0: exactly what was
// synced), drawn from seed. It needs an FS from NewCrashable.
func (f *FS) Crash(unsyncedPercent int, seed int64) *FS {
	if f.mem == nil {
		panic("faultfs: Crash on a file system not made by NewCrashable")
	}
	cfg := vfs.CrashCloneCfg{UnsyncedDataPercent: unsyncedPercent}
	if unsyncedPercent > 0 {
		cfg.RNG = rand.New(rand.NewPCG(uint64(seed), 0))
	}
	mem := f.mem.CrashClone(cfg)
	return &FS{FS: mem, mem: mem}
}

// check returns the error for op on a file named name, or nil.
func (f *FS) check(name string, op Op) error {
	if d := f.syncDelay.Load(); d > 0 && op == Sync {
		time.Sleep(time.Duration(d))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := kindOf(name)
	for _, ft := range f.faults {
		if ft.op == op && (ft.kind == Any || ft.kind == k) {
			f.injected.Add(1)
			return fmt.Errorf("faultfs: %s %s: %w", opName(op), filepath.Base(name), ft.err)
		}
	}
	return nil
}

// tear reports whether this write of name is to be cut short.
func (f *FS) tear(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tornOn && (f.torn == Any || f.torn == kindOf(name)) {
		f.tornOn = false
		f.injected.Add(1)
		return true
	}
	return false
}

func opName(op Op) string {
	switch op {
	case Sync:
		return "sync"
	case Create:
		return "create"
	}
	return "write"
}

func (f *FS) wrap(name string, file vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f, name: name}, nil
}

// Create implements vfs.FS.
func (f *FS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	if err := f.check(name, Create); err != nil {
		return nil, err
	}
	if err := f.check(name, Write); err != nil {
		return nil, err
	}
	file, err := f.FS.Create(name, c)
	return f.wrap(name, file, err)
}

// OpenReadWrite implements vfs.FS.
func (f *FS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	file, err := f.FS.OpenReadWrite(name, c, opts...)
	return f.wrap(name, file, err)
}

// ReuseForWrite implements vfs.FS.
func (f *FS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	if err := f.check(newname, Create); err != nil {
		return nil, err
	}
	if err := f.check(newname, Write); err != nil {
		return nil, err
	}
	file, err := f.FS.ReuseForWrite(oldname, newname, c)
	return f.wrap(newname, file, err)
}

// faultFile is a file of FS.
type faultFile struct {
	vfs.File
	fs   *FS
	name string
}

func (ff *faultFile) Write(p []byte) (int, error) {
	if err := ff.fs.check(ff.name, Write); err != nil {
		return 0, err
	}
	if ff.fs.tear(ff.name) {
		n, _ := ff.File.Write(p[:len(p)/2])
		return n, fmt.Errorf("faultfs: write %s cut short: %w", filepath.Base(ff.name), EIO)
	}
	return ff.File.Write(p)
}

func (ff *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if err := ff.fs.check(ff.name, Write); err != nil {
		return 0, err
	}
	if ff.fs.tear(ff.name) {
		n, _ := ff.File.WriteAt(p[:len(p)/2], off)
		return n, fmt.Errorf("faultfs: write %s cut short: %w", filepath.Base(ff.name), EIO)
	}
	return ff.File.WriteAt(p, off)
}

func (ff *faultFile) Sync() error {
	if err := ff.fs.check(ff.name, Sync); err != nil {
		return err
	}
	return ff.File.Sync()
}

func (ff *faultFile) SyncData() error {
	if err := ff.fs.check(ff.name, Sync); err != nil {
		return err
	}
	return ff.File.SyncData()
}

func (ff *faultFile) SyncTo(length int64) (bool, error) {
	if err := ff.fs.check(ff.name, Sync); err != nil {
		return false, err
	}
	return ff.File.SyncTo(length)
}
