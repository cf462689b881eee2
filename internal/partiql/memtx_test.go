package partiql

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/ionvalue"
)

// memTx is an in-memory Tx for tests. It logs every read so that tests can
// check which access path the planner chose.
type memTx struct {
	txid    string
	tables  []*memTable
	nextID  int
	calls   []string
	history map[string][]*ionvalue.Value // tableID -> committed-view revisions
	// indexStatus is the status new indexes get (ONLINE when empty).
	indexStatus string
	// inCallback detects re-entrant calls, which the Tx contract forbids.
	inCallback bool
}

type memTable struct {
	info  TableInfo
	ids   []string // live document ids, insertion order
	docs  map[string]*ionvalue.Value
	ghost map[string]bool // ids deleted; never reused
}

func newMemTx() *memTx {
	return &memTx{txid: "txid0000000000000000001", history: map[string][]*ionvalue.Value{}}
}

func (m *memTx) newID(prefix string) string {
	m.nextID++
	return fmt.Sprintf("%s%03d", prefix, m.nextID)
}

func (m *memTx) log(format string, args ...any) {
	m.calls = append(m.calls, fmt.Sprintf(format, args...))
}

// callsWith returns the logged calls starting with prefix.
func (m *memTx) callsWith(prefix string) []string {
	var out []string
	for _, c := range m.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

func (m *memTx) byID(id string) *memTable {
	for _, t := range m.tables {
		if t.info.ID == id {
			return t
		}
	}
	return nil
}

func (m *memTx) tableNamed(name string) *memTable {
	for _, t := range m.tables {
		if t.info.Active && t.info.Name == name {
			return t
		}
	}
	return nil
}

func (m *memTx) checkReentry() {
	if m.inCallback {
		panic("memTx: Tx method called from inside a callback")
	}
}

func (m *memTx) TxID() string { return m.txid }

func (m *memTx) Table(name string) (TableInfo, bool) {
	m.checkReentry()
	if t := m.tableNamed(name); t != nil {
		return t.info, true
	}
	return TableInfo{}, false
}

func (m *memTx) TableByID(id string) (TableInfo, bool) {
	m.checkReentry()
	if t := m.byID(id); t != nil {
		return t.info, true
	}
	return TableInfo{}, false
}

func (m *memTx) Tables() []TableInfo {
	m.checkReentry()
	out := make([]TableInfo, len(m.tables))
	for i, t := range m.tables {
		out[i] = t.info
	}
	return out
}

func (m *memTx) deliver(t *memTable, ids []string, fn func(Document) bool) {
	m.inCallback = true
	defer func() { m.inCallback = false }()
	for _, id := range ids {
		if !fn(Document{ID: id, Data: t.docs[id]}) {
			return
		}
	}
}

func (m *memTx) Scan(tableID string, fn func(Document) bool) error {
	m.checkReentry()
	t := m.byID(tableID)
	if t == nil {
		return fmt.Errorf("memtx: no table %s", tableID)
	}
	m.log("Scan %s", t.info.Name)
	m.deliver(t, append([]string(nil), t.ids...), fn)
	return nil
}

func (m *memTx) Get(tableID, docID string) (Document, bool, error) {
	m.checkReentry()
	t := m.byID(tableID)
	if t == nil {
		return Document{}, false, fmt.Errorf("memtx: no table %s", tableID)
	}
	m.log("Get %s %s", t.info.Name, docID)
	d, ok := t.docs[docID]
	return Document{ID: docID, Data: d}, ok, nil
}

func (m *memTx) Lookup(tableID, field string, key *ionvalue.Value, fn func(Document) bool) error {
	m.checkReentry()
	t := m.byID(tableID)
	if t == nil {
		return fmt.Errorf("memtx: no table %s", tableID)
	}
	m.log("Lookup %s.%s %s", t.info.Name, field, ionvalue.MarshalText(key))
	want := IndexKey(key)
	var hits []string
	for _, id := range t.ids {
		if v := t.docs[id].Get(field); v != nil && bytes.Equal(IndexKey(v), want) {
			hits = append(hits, id)
		}
	}
	m.deliver(t, hits, fn)
	return nil
}

func (m *memTx) History(tableID string, q HistoryQuery, fn func(*ionvalue.Value) bool) error {
	m.checkReentry()
	m.log("History %s %q", tableID, q.DocumentID)
	m.inCallback = true
	defer func() { m.inCallback = false }()
	for _, r := range m.history[tableID] {
		if q.DocumentID != "" {
			if r.Get("metadata").Get("id").Text != q.DocumentID {
				continue
			}
		}
		if !fn(r) {
			break
		}
	}
	return nil
}

func (m *memTx) Insert(tableID string, data *ionvalue.Value) (string, error) {
	m.checkReentry()
	t := m.byID(tableID)
	id := m.newID("doc")
	t.ids = append(t.ids, id)
	t.docs[id] = data
	m.log("Insert %s %s", t.info.Name, id)
	return id, nil
}

func (m *memTx) Update(tableID, docID string, data *ionvalue.Value) error {
	m.checkReentry()
	t := m.byID(tableID)
	if _, ok := t.docs[docID]; !ok {
		return fmt.Errorf("memtx: no document %s", docID)
	}
	t.docs[docID] = data
	m.log("Update %s %s", t.info.Name, docID)
	return nil
}

func (m *memTx) Delete(tableID, docID string) error {
	m.checkReentry()
	t := m.byID(tableID)
	if _, ok := t.docs[docID]; !ok {
		return fmt.Errorf("memtx: no document %s", docID)
	}
	delete(t.docs, docID)
	for i, id := range t.ids {
		if id == docID {
			t.ids = append(t.ids[:i:i], t.ids[i+1:]...)
			break
		}
	}
	m.log("Delete %s %s", t.info.Name, docID)
	return nil
}

func (m *memTx) CreateTable(name string) (string, error) {
	m.checkReentry()
	id := m.newID("tbl")
	m.tables = append(m.tables, &memTable{info: TableInfo{ID: id, Name: name, Active: true}, docs: map[string]*ionvalue.Value{}})
	return id, nil
}

func (m *memTx) DropTable(tableID string) error {
	m.byID(tableID).info.Active = false
	return nil
}

func (m *memTx) UndropTable(tableID string) error {
	m.byID(tableID).info.Active = true
	return nil
}

func (m *memTx) CreateIndex(tableID, field string) (string, error) {
	t := m.byID(tableID)
	id := m.newID("idx")
	st := m.indexStatus
	if st == "" {
		st = IndexOnline
	}
	t.info.Indexes = append(t.info.Indexes, IndexInfo{ID: id, Field: field, Status: st})
	return id, nil
}

func (m *memTx) DropIndex(tableID, indexID string) error {
	t := m.byID(tableID)
	for i, ix := range t.info.Indexes {
		if ix.ID == indexID {
			t.info.Indexes = append(t.info.Indexes[:i:i], t.info.Indexes[i+1:]...)
		}
	}
	return nil
}

// --- test helpers ---

// exec parses and runs a statement, failing the test on error.
func exec(t testing.TB, tx Tx, stmt string, params ...*ionvalue.Value) *Result {
	t.Helper()
	res, err := tryExec(tx, stmt, params...)
	if err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	return res
}

func tryExec(tx Tx, stmt string, params ...*ionvalue.Value) (*Result, error) {
	s, err := Parse(stmt)
	if err != nil {
		return nil, err
	}
	if params == nil {
		params = []*ionvalue.Value{}
	}
	return Execute(tx, s, params)
}

// rowsText renders rows as Ion text, one per line.
func rowsText(rows []*ionvalue.Value) string {
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = ionvalue.MarshalText(r)
	}
	return strings.Join(parts, "\n")
}

// docIDs extracts documentId from DML result rows.
func docIDs(res *Result) []string {
	var out []string
	for _, r := range res.Rows {
		out = append(out, r.Get("documentId").Text)
	}
	return out
}
