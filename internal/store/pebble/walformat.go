package pebblestore

import (
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// walFormat is the Pebble format Strand runs at. From FormatWALSyncChunks
// on, every WAL chunk carries the offset up to which the log had been
// synced when it was written, so that replay can tell a corrupt record in
// the middle of the log (a later chunk promises that it was synced: Open
// fails with an error marked pebble.ErrCorruption) from a torn tail after a
// crash (nothing later was synced: replay stops there). Older formats
// treat both as the end of the log and silently drop the acknowledged
// batches after a damaged record. Pebble v2.1.7 has no stricter WAL
// recovery mode than this.
const walFormat = pebble.FormatWALSyncChunks

// openPebble opens the Pebble database at path with po. A database that is
// new, or older than walFormat, is ratcheted to walFormat by Open only after
// Open has created the WAL it writes to, which then lacks sync offsets; it
// is therefore closed and opened once more, so that every acknowledged
// write goes to a WAL with sync offsets.
//
// A read-only open changes nothing: it runs at the format on disk.
func openPebble(path string, po *pebble.Options) (*pebble.DB, error) {
	if po.ReadOnly {
		return pebble.Open(path, po)
	}
	po.FormatMajorVersion = walFormat
	fs := po.FS
	if fs == nil {
		fs = vfs.Default
	}
	desc, err := pebble.Peek(path, fs)
	current := err == nil && desc.Exists && desc.FormatMajorVersion >= walFormat
	db, err := pebble.Open(path, po)
	if err != nil || current {
		return db, err
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	return pebble.Open(path, po)
}
