package shell

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// MaxHistory is how many entries a history file keeps.
const MaxHistory = 1000

// History is the list of entered statements and commands, kept in a file
// (one entry per line, oldest first, like a shell's history file) so that
// a later shell can recall them. A History is safe for concurrent use.
type History struct {
	mu      sync.Mutex
	path    string
	entries []string
	// warn reports a history file that cannot be written (once).
	warn   func(error)
	warned bool
}

// OpenHistory loads the history file at path ("" for a history kept in
// memory only); a missing file is an empty history. warn is told, once,
// when the file cannot be written.
func OpenHistory(path string, warn func(error)) (*History, error) {
	h := &History{path: path, warn: warn}
	if path == "" {
		return h, nil
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return h, nil
	}
	if err != nil {
		return nil, fmt.Errorf("shell: history: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		if e := sc.Text(); e != "" {
			h.entries = append(h.entries, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("shell: history %s: %w", path, err)
	}
	if len(h.entries) > MaxHistory {
		h.entries = h.entries[len(h.entries)-MaxHistory:]
	}
	return h, nil
}

// Entries returns a copy of the entries, oldest first.
func (h *History) Entries() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.entries...)
}

// Add appends entry (line breaks become spaces) unless it repeats the last
// one, and saves the file: appended to, or rewritten with the newest
// MaxHistory entries when it has grown past twice that. The file is created
// readable by its owner only (statements may hold data).
func (h *History) Add(entry string) {
	entry = strings.TrimSpace(strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(entry))
	h.mu.Lock()
	defer h.mu.Unlock()
	if entry == "" || (len(h.entries) > 0 && h.entries[len(h.entries)-1] == entry) {
		return
	}
	h.entries = append(h.entries, entry)
	if h.path == "" {
		return
	}
	var err error
	if len(h.entries) > 2*MaxHistory {
		h.entries = h.entries[len(h.entries)-MaxHistory:]
		err = h.rewrite()
	} else {
		err = h.appendLine(entry)
	}
	if err != nil && !h.warned && h.warn != nil {
		h.warned = true
		h.warn(fmt.Errorf("shell: history %s: %w", h.path, err))
	}
}

func (h *History) appendLine(entry string) error {
	if err := os.MkdirAll(filepath.Dir(h.path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(h.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(entry + "\n")
	cerr := f.Close()
	if werr != nil {
		return werr
	}
	return cerr
}

func (h *History) rewrite() error {
	tmp := h.path + ".tmp"
	data := strings.Join(h.entries, "\n") + "\n"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, h.path)
}
