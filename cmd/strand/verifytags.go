package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/strand-db/strand/internal/audit"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/store"
)

// Table tag records (package txn, tabletags.go) live at l/<ledgerId>/g/<tableId>
// as a JSON object of strings, written with encoding/json (sorted keys, no
// spaces), and only for a table of the ledger (l/<ledgerId>/t/<tableId>).
// They are not journal data, so the audit of package audit does not read
// them; checkTableTags does.
const (
	ledgerKeysPrefix = "l/"
	tableTagsDir     = "g/"
	tableMetaDir     = "t/"
)

// checkTableTags checks the table tag records of the ledgers in rep and,
// when every ledger was checked (ledgerName ""), of every ledger id that
// has keys in the store: each must decode, read back byte for byte as it
// is written, hold tags within the tag rules, and belong to a table of a
// ledger in the catalogue. It prints one FAILED line per bad record,
// naming its key, and reports whether any was found; the error is the
// store's.
//
// A changed byte inside a tag's key or value that leaves valid text is not
// found: the records carry no checksum (PostgreSQL checks its own pages;
// Pebble checksums its blocks).
func checkTableTags(st store.Store, rep *audit.Report, ledgerName string, stdout io.Writer) (bool, error) {
	names := map[string]string{}
	for _, l := range rep.Ledgers {
		names[l.ID] = l.Name
	}
	ids := make([]string, 0, len(rep.Ledgers))
	for _, l := range rep.Ledgers {
		ids = append(ids, l.ID)
	}
	if ledgerName == "" {
		all, err := ledgerIDsWithKeys(st)
		if err != nil {
			return false, err
		}
		for _, id := range all {
			if _, ok := names[id]; !ok {
				ids = append(ids, id)
			}
		}
	}
	damaged := false
	for _, id := range ids {
		name, catalogued := names[id]
		if !catalogued {
			name = "(id " + id + ")"
		}
		prefix := []byte(ledgerKeysPrefix + id + "/")
		dir := append(bytes.Clone(prefix), tableTagsDir...)
		type record struct{ key, value []byte }
		var recs []record
		if err := st.Scan(dir, store.PrefixEnd(dir), func(k, v []byte) bool {
			recs = append(recs, record{bytes.Clone(k), bytes.Clone(v)})
			return true
		}); err != nil {
			if !store.IsCorruption(err) {
				return damaged, fmt.Errorf("table tags of ledger %s: %w", name, err)
			}
			damaged = true
			fmt.Fprintf(stdout, "ledger %s: FAILED: table tags check of %s: %v\n", name, store.CorruptKey(err), store.FirstLine(err))
			continue
		}
		for _, r := range recs {
			tableID := string(r.key[len(dir):])
			err := checkTableTagRecord(r.value)
			if err == nil && !catalogued {
				err = errors.New("it belongs to a ledger id that is not in the catalogue")
			}
			if err == nil {
				_, ok, gerr := st.Get(append(append(bytes.Clone(prefix), tableMetaDir...), tableID...))
				if gerr != nil && !store.IsCorruption(gerr) {
					return damaged, fmt.Errorf("table %s of ledger %s: %w", tableID, name, gerr)
				}
				if gerr == nil && !ok {
					err = fmt.Errorf("the ledger has no table %q", tableID)
				}
			}
			if err != nil {
				damaged = true
				fmt.Fprintf(stdout, "ledger %s: FAILED: table tags check of %s: %v\n", name, r.key, err)
			}
		}
	}
	return damaged, nil
}

// checkTableTagRecord checks one stored table tag record.
func checkTableTagRecord(raw []byte) error {
	if !utf8.Valid(raw) {
		return errors.New("it is not valid UTF-8")
	}
	var tags map[string]string
	if err := json.Unmarshal(raw, &tags); err != nil {
		return fmt.Errorf("it does not decode as a JSON object of strings: %w", err)
	}
	if tags == nil {
		return errors.New("it is null, not a JSON object of strings")
	}
	if len(tags) == 0 {
		return errors.New("it holds no tags (a table without tags has no record)")
	}
	back, err := json.Marshal(tags)
	if err != nil {
		return err
	}
	if !bytes.Equal(back, raw) {
		return errors.New("it does not read back as it was written")
	}
	req := make(map[string]*string, len(tags))
	for k, v := range tags {
		req[k] = &v
	}
	if err := ledger.ValidateTags(req); err != nil {
		return fmt.Errorf("its tags break the tag rules: %w", err)
	}
	return nil
}

// ledgerIDsWithKeys lists every ledger id that has keys (l/<id>/...) in
// st, one iterator per id.
func ledgerIDsWithKeys(st store.Store) ([]string, error) {
	root := []byte(ledgerKeysPrefix)
	end := store.PrefixEnd(root)
	lower := root
	var ids []string
	for {
		it, err := st.NewIter(lower, end)
		if err != nil {
			return nil, err
		}
		var key []byte
		if it.First() {
			key = bytes.Clone(it.Key())
		}
		err = it.Close()
		if err != nil {
			return nil, err
		}
		if key == nil {
			return ids, nil
		}
		rest := key[len(root):]
		slash := bytes.IndexByte(rest, '/')
		if slash < 0 {
			lower = append(bytes.Clone(key), 0) // a malformed key: skip it
			continue
		}
		ids = append(ids, string(rest[:slash]))
		lower = store.PrefixEnd(key[:len(root)+slash+1])
	}
}
