package txn

import (
	"crypto/sha256"
	"encoding/binary"

	"github.com/strand-db/strand/internal/journal"
)

// keys builds the keys of one ledger's derived state (tables, documents,
// indexes, history) under the prefix and layout package journal owns (see
// journal.LedgerLayout).
type keys struct{ prefix []byte }

func newKeys(ledgerID string) keys { return keys{prefix: journal.LedgerLayout(ledgerID).Prefix} }

func (k keys) cat(parts ...[]byte) []byte {
	n := len(k.prefix)
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	out = append(out, k.prefix...)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

func (k keys) all() []byte            { return k.prefix }
func (k keys) meta() []byte           { return k.cat([]byte("meta")) }
func (k keys) table(id string) []byte { return k.cat([]byte("t/"), []byte(id)) }
func (k keys) tables() []byte         { return k.cat([]byte("t/")) }
func (k keys) doc(table, id string) []byte {
	return k.cat([]byte("d/"), []byte(table), []byte("/"), []byte(id))
}
func (k keys) docs(table string) []byte    { return k.cat([]byte("d/"), []byte(table), []byte("/")) }
func (k keys) history(table string) []byte { return k.cat([]byte("h/"), []byte(table), []byte("/")) }
func (k keys) docHistory(table, id string) []byte {
	return k.cat([]byte("h/"), []byte(table), []byte("/"), []byte(id), []byte("/"))
}
func (k keys) revision(table, id string, version uint64) []byte {
	return k.cat([]byte("h/"), []byte(table), []byte("/"), []byte(id), []byte("/"), u64(version))
}

// indexPrefix is the prefix of every entry of one index value.
func (k keys) indexPrefix(table, field string, key []byte) []byte {
	f := sha256.Sum256([]byte(field))
	v := sha256.Sum256(key)
	return k.cat([]byte("x/"), []byte(table), []byte("/"), f[:], v[:], []byte("/"))
}

// indexField is the prefix of every entry of one index.
func (k keys) indexField(table, field string) []byte {
	f := sha256.Sum256([]byte(field))
	return k.cat([]byte("x/"), []byte(table), []byte("/"), f[:])
}

func (k keys) indexEntry(table, field string, key []byte, docID string) []byte {
	return append(k.indexPrefix(table, field, key), docID...)
}

// indexTable is the prefix of every index entry of a table.
func (k keys) indexTable(table string) []byte { return k.cat([]byte("x/"), []byte(table), []byte("/")) }
