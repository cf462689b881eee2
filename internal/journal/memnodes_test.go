package journal

import "bytes"

// MemNodes is an in-memory TreeReader and TreeWriter for tests.
// Concurrent GetNode calls are safe; SetNode must not run concurrently with
// anything else.
type MemNodes struct {
	m map[memKey][]byte
}

type memKey struct {
	level uint8
	index uint64
}

// NewMemNodes returns an empty MemNodes.
func NewMemNodes() *MemNodes { return &MemNodes{m: make(map[memKey][]byte)} }

// GetNode implements TreeReader.
func (m *MemNodes) GetNode(level uint8, index uint64) ([]byte, bool, error) {
	h, ok := m.m[memKey{level, index}]
	return h, ok, nil
}

// SetNode implements TreeWriter; it stores a copy of hash.
func (m *MemNodes) SetNode(level uint8, index uint64, hash []byte) error {
	m.m[memKey{level, index}] = bytes.Clone(hash)
	return nil
}

// Len returns the number of stored nodes.
func (m *MemNodes) Len() int { return len(m.m) }
