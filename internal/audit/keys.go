package audit

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/store"
)

// keys is the part of a ledger's key space the verifier reads, as package
// journal lays it out (journal.LedgerLayout).
type keys struct {
	prefix                                        []byte
	meta, blocks, latest, history, revBlock, tree []byte
}

func newKeys(ledgerID string) keys {
	l := journal.LedgerLayout(ledgerID)
	return keys{prefix: l.Prefix, meta: l.Meta, blocks: l.Blocks, latest: l.Latest, history: l.History, revBlock: l.RevisionBlocks, tree: l.Tree}
}

// span returns the key range [prefix, PrefixEnd(prefix)).
func span(prefix []byte) ([]byte, []byte) { return prefix, store.PrefixEnd(prefix) }

// blockSeq parses the sequence number of a b/ key.
func blockSeq(prefix, key []byte) (uint64, error) {
	rest := key[len(prefix):]
	if len(rest) != 8 {
		return 0, fmt.Errorf("verify: malformed journal key %q", key)
	}
	return binary.BigEndian.Uint64(rest), nil
}

// historyKey parses an h/ key into table, document and version.
func historyKey(prefix, key []byte) (table, doc string, version uint64, err error) {
	rest := key[len(prefix):]
	if len(rest) < 11 || rest[len(rest)-9] != '/' {
		return "", "", 0, fmt.Errorf("verify: malformed history key %q", key)
	}
	version = binary.BigEndian.Uint64(rest[len(rest)-8:])
	td := rest[:len(rest)-9]
	i := bytes.IndexByte(td, '/')
	if i <= 0 || i == len(td)-1 {
		return "", "", 0, fmt.Errorf("verify: malformed history key %q", key)
	}
	return string(td[:i]), string(td[i+1:]), version, nil
}

// latestKey parses a d/ key into table and document.
func latestKey(prefix, key []byte) (table, doc string, err error) {
	rest := key[len(prefix):]
	i := bytes.IndexByte(rest, '/')
	if i <= 0 || i == len(rest)-1 {
		return "", "", fmt.Errorf("verify: malformed latest-revision key %q", key)
	}
	return string(rest[:i]), string(rest[i+1:]), nil
}

// revBlockKey parses an r/ key into document and version.
func revBlockKey(prefix, key []byte) (doc string, version uint64, err error) {
	rest := key[len(prefix):]
	if len(rest) < 10 || rest[len(rest)-9] != '/' {
		return "", 0, fmt.Errorf("verify: malformed revision-block key %q", key)
	}
	return string(rest[:len(rest)-9]), binary.BigEndian.Uint64(rest[len(rest)-8:]), nil
}

// printable renders a key for messages: its ledger-relative part, with the
// binary sequence/version suffix shown as a number.
func printable(prefix, key []byte) string {
	rest := key[len(prefix):]
	if len(rest) >= 10 && rest[len(rest)-9] == '/' {
		return fmt.Sprintf("%s/%d", rest[:len(rest)-9], binary.BigEndian.Uint64(rest[len(rest)-8:]))
	}
	return string(rest)
}
