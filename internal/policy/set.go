package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Set is the policies of every principal, as loaded from a policy file or
// directory: a JSON object whose keys are principal names (the third field
// of a credentials file line) or access key ids, and whose values are one
// policy document or an array of them:
//
//	{
//	  "app":     {"Version": "2012-10-17", "Statement": [...]},
//	  "auditor": [{...}, {...}],
//	  "AKIAEXAMPLE": {...}
//	}
//
// A directory holds such files (every *.json file, in name order); a key in
// several files gets all their documents. A Set is immutable.
type Set struct {
	docs map[string][]*Document
	raw  map[string]string // each key's documents as compact JSON, to tell what changed
}

// MaxSetBytes bounds a policy file (or the files of a directory together).
const MaxSetBytes = 16 << 20

// Load reads the policy file or directory at path.
func Load(path string) (*Set, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	files := []string{path}
	if fi.IsDir() {
		files, err = filepath.Glob(filepath.Join(path, "*.json"))
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		sort.Strings(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("policy: directory %s holds no *.json policy files", path)
		}
	}
	s := &Set{docs: map[string][]*Document{}, raw: map[string]string{}}
	total := int64(0)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		total += int64(len(b))
		if total > MaxSetBytes {
			return nil, fmt.Errorf("policy: %s: policy files exceed %d bytes", path, MaxSetBytes)
		}
		if err := s.add(b); err != nil {
			return nil, fmt.Errorf("%w (in %s)", err, f)
		}
	}
	return s, nil
}

// ParseSet parses one policy file's contents.
func ParseSet(data []byte) (*Set, error) {
	if len(data) > MaxSetBytes {
		return nil, fmt.Errorf("policy: policy file exceeds %d bytes", MaxSetBytes)
	}
	s := &Set{docs: map[string][]*Document{}, raw: map[string]string{}}
	if err := s.add(data); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Set) add(data []byte) error {
	var top map[string]json.RawMessage
	if err := strictDecode(data, &top); err != nil || top == nil {
		return errors.New("policy: a policy file must be a JSON object mapping principal names or access key ids to policy documents")
	}
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.TrimSpace(k) == "" {
			return errors.New("policy: empty principal name")
		}
		v := top[k]
		var list []json.RawMessage
		if t := bytes.TrimSpace(v); len(t) > 0 && t[0] == '[' {
			if err := json.Unmarshal(v, &list); err != nil {
				return fmt.Errorf("policy: %q: want a policy document or an array of them", k)
			}
		} else {
			list = []json.RawMessage{v}
		}
		for i, d := range list {
			doc, err := Parse(d)
			if err != nil {
				return fmt.Errorf("%w (principal %q, document %d)", err, k, i+1)
			}
			s.docs[k] = append(s.docs[k], doc)
			var buf bytes.Buffer
			if json.Compact(&buf, d) == nil {
				s.raw[k] += buf.String() + "\n"
			}
		}
	}
	return nil
}

// Policies returns the documents of every one of keys (a principal name,
// an access key id), in that order.
func (s *Set) Policies(keys ...string) []*Document {
	if s == nil {
		return nil
	}
	var out []*Document
	seen := map[string]bool{}
	for _, k := range keys {
		if k == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, s.docs[k]...)
	}
	return out
}

// Keys lists the principal names and access key ids that have policies,
// sorted.
func (s *Set) Keys() []string {
	if s == nil {
		return nil
	}
	out := make([]string, 0, len(s.docs))
	for k := range s.docs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Changes is what a reload changed.
type Changes struct {
	Added, Removed, Changed []string // principal names or access key ids
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool { return len(c.Added)+len(c.Removed)+len(c.Changed) == 0 }

// String describes the changes for a log line.
func (c Changes) String() string {
	if c.Empty() {
		return "no change"
	}
	var parts []string
	for _, p := range []struct {
		what string
		keys []string
	}{{"added", c.Added}, {"removed", c.Removed}, {"changed", c.Changed}} {
		if len(p.keys) > 0 {
			parts = append(parts, p.what+": "+strings.Join(p.keys, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// Diff tells which keys' policies differ between old and new.
func Diff(old, new *Set) Changes {
	var c Changes
	o, n := map[string]string{}, map[string]string{}
	if old != nil {
		o = old.raw
	}
	if new != nil {
		n = new.raw
	}
	for k, v := range n {
		ov, ok := o[k]
		switch {
		case !ok:
			c.Added = append(c.Added, k)
		case ov != v:
			c.Changed = append(c.Changed, k)
		}
	}
	for k := range o {
		if _, ok := n[k]; !ok {
			c.Removed = append(c.Removed, k)
		}
	}
	sort.Strings(c.Added)
	sort.Strings(c.Removed)
	sort.Strings(c.Changed)
	return c
}
