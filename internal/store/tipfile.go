package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// ErrTipRecordCorrupt is returned (wrapped) by TipFiles.Load when a ledger's
// tip record file exists but neither of its slots holds a valid record.
var ErrTipRecordCorrupt = errors.New("store: tip record is corrupt in both slots")

// TipRecord is a ledger's acknowledged tip: the number of journal blocks
// that had been acknowledged to clients, and the block hash of the newest
// of them (nil when Next is 0).
type TipRecord struct {
	LedgerID string
	Next     uint64 // acknowledged blocks: sequence numbers 0..Next-1
	Hash     []byte // blockHash of block Next-1 (32 bytes), nil when Next is 0
}

// Tip record file format.
//
// Each ledger has one file, <data dir>/tips/<ledgerID>.tip, written outside
// Pebble so that a damaged or truncated Pebble write-ahead log cannot take
// it back with the journal. The file is two 512-byte slots (A at offset 0,
// B at offset 512), each a whole disk sector, so that a torn write damages
// at most the slot being written. A record with generation g goes into
// slot g%2, overwriting the older of the two; the other slot keeps the
// previous record. Each write is followed by an fsync before the commit it
// covers is acknowledged. A slot, all integers big-endian:
//
//	offset size  field
//	0      8     magic "STRNDTIP"
//	8      2     format version, 1
//	10     8     generation: 1 for the first record, +1 per write
//	18     8     next: number of acknowledged blocks
//	26     1     length of the tip block hash, 0 or 32
//	27     32    tip block hash (zero when the length is 0)
//	59     1     length n of the ledger id (at most 128)
//	60     n     ledger id
//	60+n   4     CRC-32C (Castagnoli) of bytes [0, 60+n)
//	...          zero up to 512
//
// A reader takes the valid slot (magic, version, lengths, checksum, and the
// ledger id the file is named after) with the highest generation. A file in
// which no slot is valid is corrupt (ErrTipRecordCorrupt); a missing file
// means no record.
const (
	tipSlotSize = 512
	tipMagic    = "STRNDTIP"
	tipVersion  = 1
	tipMaxID    = 128
	tipHashLen  = 32
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeTipSlot renders one slot.
func encodeTipSlot(gen uint64, rec TipRecord) ([]byte, error) {
	if len(rec.LedgerID) == 0 || len(rec.LedgerID) > tipMaxID {
		return nil, fmt.Errorf("store: tip record: ledger id of %d bytes", len(rec.LedgerID))
	}
	if (rec.Next == 0) != (len(rec.Hash) == 0) || (len(rec.Hash) != 0 && len(rec.Hash) != tipHashLen) {
		return nil, fmt.Errorf("store: tip record: %d blocks with a hash of %d bytes", rec.Next, len(rec.Hash))
	}
	b := make([]byte, tipSlotSize)
	copy(b, tipMagic)
	binary.BigEndian.PutUint16(b[8:], tipVersion)
	binary.BigEndian.PutUint64(b[10:], gen)
	binary.BigEndian.PutUint64(b[18:], rec.Next)
	b[26] = byte(len(rec.Hash))
	copy(b[27:59], rec.Hash)
	b[59] = byte(len(rec.LedgerID))
	n := 60 + copy(b[60:], rec.LedgerID)
	binary.BigEndian.PutUint32(b[n:], crc32.Checksum(b[:n], castagnoli))
	return b, nil
}

// decodeTipSlot parses one slot; ok is false when it is not a valid record
// of ledgerID.
func decodeTipSlot(b []byte, ledgerID string) (gen uint64, rec TipRecord, ok bool) {
	if len(b) < tipSlotSize || string(b[:8]) != tipMagic || binary.BigEndian.Uint16(b[8:]) != tipVersion {
		return 0, TipRecord{}, false
	}
	hl, il := int(b[26]), int(b[59])
	if (hl != 0 && hl != tipHashLen) || il == 0 || il > tipMaxID {
		return 0, TipRecord{}, false
	}
	n := 60 + il
	if crc32.Checksum(b[:n], castagnoli) != binary.BigEndian.Uint32(b[n:]) {
		return 0, TipRecord{}, false
	}
	rec = TipRecord{LedgerID: string(b[60:n]), Next: binary.BigEndian.Uint64(b[18:])}
	if hl > 0 {
		rec.Hash = bytes.Clone(b[27 : 27+hl])
	}
	if rec.LedgerID != ledgerID || (rec.Next == 0) != (hl == 0) {
		return 0, TipRecord{}, false
	}
	return binary.BigEndian.Uint64(b[10:]), rec, true
}

// TipFiles keeps the tip records of the ledgers of one data directory, in
// <dir>/tips. Record calls for different ledgers may run concurrently;
// calls for one ledger must not (its committer is their only caller).
type TipFiles struct {
	dir string

	mu   sync.Mutex
	open map[string]*tipFile // files kept open for writing, by ledger id
}

type tipFile struct {
	f   *os.File
	gen uint64 // generation of the newest valid record in the file
}

// NewTipFiles returns the tip records under dataDir/tips. It touches no
// file until used.
func NewTipFiles(dataDir string) *TipFiles {
	return &TipFiles{dir: filepath.Join(dataDir, "tips"), open: map[string]*tipFile{}}
}

func (t *TipFiles) path(ledgerID string) string { return filepath.Join(t.dir, ledgerID+".tip") }

// LedgerIDs returns the ids of the ledgers that have a tip record file, in
// no particular order (none when the directory does not exist).
func (t *TipFiles) LedgerIDs() ([]string, error) {
	entries, err := os.ReadDir(t.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: tip records: %w", err)
	}
	var ids []string
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".tip"); ok && !e.IsDir() {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// readTip reads the newest valid record of a file: ok is false when the file
// does not exist; the error wraps ErrTipRecordCorrupt when no slot is valid.
func readTip(path, ledgerID string) (gen uint64, rec TipRecord, ok bool, err error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, TipRecord{}, false, nil
	}
	if err != nil {
		return 0, TipRecord{}, false, fmt.Errorf("store: tip record: %w", err)
	}
	found := false
	for slot := 0; slot < 2; slot++ {
		if len(raw) < (slot+1)*tipSlotSize {
			continue
		}
		g, r, valid := decodeTipSlot(raw[slot*tipSlotSize:(slot+1)*tipSlotSize], ledgerID)
		if valid && (!found || g > gen) {
			gen, rec, found = g, r, true
		}
	}
	if !found {
		return 0, TipRecord{}, false, fmt.Errorf("%w: %s", ErrTipRecordCorrupt, path)
	}
	return gen, rec, true, nil
}

// Load returns the newest valid record of a ledger; ok is false when the
// ledger has no tip record file. When the file exists but neither slot is
// valid the error wraps ErrTipRecordCorrupt.
func (t *TipFiles) Load(ledgerID string) (rec TipRecord, ok bool, err error) {
	_, rec, ok, err = readTip(t.path(ledgerID), ledgerID)
	return rec, ok, err
}

// Record durably records rec as its ledger's tip: when it returns nil the
// record is on disk (fsynced) and the previous record is still in the other
// slot. A missing file, or one with no valid slot, is replaced as a whole
// (written aside, fsynced, renamed, directory fsynced).
func (t *TipFiles) Record(rec TipRecord) error {
	t.mu.Lock()
	tf := t.open[rec.LedgerID]
	t.mu.Unlock()
	if tf == nil {
		var err error
		if tf, err = t.openFile(rec.LedgerID); err != nil {
			return err
		}
		t.mu.Lock()
		t.open[rec.LedgerID] = tf
		t.mu.Unlock()
	}
	gen := tf.gen + 1
	slot, err := encodeTipSlot(gen, rec)
	if err != nil {
		return err
	}
	if _, err := tf.f.WriteAt(slot, int64(gen%2)*tipSlotSize); err != nil {
		return fmt.Errorf("store: tip record of ledger %s: %w", rec.LedgerID, err)
	}
	if err := datasync(tf.f); err != nil {
		return fmt.Errorf("store: tip record of ledger %s: fdatasync: %w", rec.LedgerID, err)
	}
	tf.gen = gen
	return nil
}

// openFile opens a ledger's file for writing, first creating it (with both
// slots empty) when it is missing or corrupt.
func (t *TipFiles) openFile(ledgerID string) (*tipFile, error) {
	path := t.path(ledgerID)
	gen, _, ok, err := readTip(path, ledgerID)
	if err != nil && !errors.Is(err, ErrTipRecordCorrupt) {
		return nil, err
	}
	if !ok {
		if err := t.create(path); err != nil {
			return nil, err
		}
		gen = 0
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("store: tip record: %w", err)
	}
	return &tipFile{f: f, gen: gen}, nil
}

// create atomically puts an empty two-slot file at path.
func (t *TipFiles) create(path string) error {
	if err := os.MkdirAll(t.dir, 0o750); err != nil {
		return fmt.Errorf("store: tip record: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("store: tip record: %w", err)
	}
	_, err = f.Write(make([]byte, 2*tipSlotSize))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(t.dir)
	}
	if err != nil {
		return fmt.Errorf("store: tip record: %w", err)
	}
	return nil
}

// Remove deletes a ledger's tip record (the ledger was deleted).
func (t *TipFiles) Remove(ledgerID string) error {
	t.mu.Lock()
	tf := t.open[ledgerID]
	delete(t.open, ledgerID)
	t.mu.Unlock()
	if tf != nil {
		tf.f.Close()
	}
	if err := os.Remove(t.path(ledgerID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: tip record: %w", err)
	}
	if err := syncDir(t.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: tip record: %w", err)
	}
	return nil
}

// Close closes the files kept open for writing.
func (t *TipFiles) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var first error
	for id, tf := range t.open {
		if err := tf.f.Close(); err != nil && first == nil {
			first = fmt.Errorf("store: tip record: %w", err)
		}
		delete(t.open, id)
	}
	return first
}

// syncDir fsyncs a directory so that a rename or removal in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
