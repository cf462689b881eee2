package policy

import (
	"sync"
	"sync/atomic"
)

// Store holds the Set loaded from a policy file or directory and replaces
// it on Reload. Readers (Current) never block; a failed reload keeps the
// set in force, so a typo in an edited file never opens or closes access.
type Store struct {
	path string
	mu   sync.Mutex // serializes reloads
	cur  atomic.Pointer[Set]
}

// Open loads the policy file or directory at path.
func Open(path string) (*Store, error) {
	s, err := Load(path)
	if err != nil {
		return nil, err
	}
	st := &Store{path: path}
	st.cur.Store(s)
	return st, nil
}

// Path is the file or directory the store loads.
func (st *Store) Path() string { return st.path }

// Current returns the set in force.
func (st *Store) Current() *Set { return st.cur.Load() }

// Reload loads the file or directory again and, if it parses, puts it in
// force and returns what changed; on error the previous set stays.
func (st *Store) Reload() (Changes, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, err := Load(st.path)
	if err != nil {
		return Changes{}, err
	}
	old := st.cur.Swap(s)
	return Diff(old, s), nil
}
