package partiql

import (
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
)

// Tx is one transaction's view of a ledger, as the evaluator sees it. The
// transaction layer implements it; the evaluator never touches storage any
// other way.
//
// Contracts that hold for every method:
//   - The evaluator calls Tx from one goroutine at a time and never calls any
//     Tx method from inside a callback (fn) it passed to Tx: it buffers what
//     a callback delivers first. Implementations need no re-entrancy.
//   - Reads must record what they read in the transaction's OCC read set;
//     the evaluator chooses the narrowest read (Get, then Lookup, then Scan)
//     that its plan allows.
//   - Reads see the transaction's own earlier writes.
//   - A callback returning false stops the iteration early; the method then
//     returns nil.
//   - Values passed to and returned from Tx are treated as immutable by
//     both sides.
//   - An error is returned by Execute unchanged (wrapped with %w). Return a
//     *Error to send the client a specific Code and Message.
type Tx interface {
	// TxID is the transaction id (TXID() in PartiQL).
	TxID() string

	// Table resolves an ACTIVE user table by exact, case-sensitive name.
	Table(name string) (TableInfo, bool)
	// TableByID resolves a table of any status by id (for UNDROP TABLE and
	// history('tableId')).
	TableByID(id string) (TableInfo, bool)
	// Tables lists every user table, active and dropped, for
	// information_schema.user_tables.
	Tables() []TableInfo

	// Scan delivers every live document of the table's user view. The whole
	// table enters the read set (any committed change to it conflicts).
	Scan(tableID string, fn func(doc Document) bool) error
	// Get returns the live document with that id, if any.
	Get(tableID, docID string) (Document, bool, error)
	// Lookup delivers every live document whose top-level field equals key,
	// using the table's index on field (the evaluator only calls it for an
	// ONLINE index). Equality is PartiQL's, as captured by IndexKey: the
	// implementation should key its index by IndexKey(value). It may deliver
	// extra documents (the evaluator re-checks the WHERE clause) but must not
	// miss any. key is never NULL or MISSING.
	Lookup(tableID, field string, key *ionvalue.Value, fn func(doc Document) bool) error
	// History delivers the table's committed revisions, oldest first per
	// document, each shaped like the committed view
	// ({blockAddress, hash, data, metadata}; no data for a deletion),
	// restricted by q.
	History(tableID string, q HistoryQuery, fn func(rev *ionvalue.Value) bool) error

	// Insert adds a document (a struct) and returns its new id.
	Insert(tableID string, data *ionvalue.Value) (docID string, err error)
	// Update replaces the data of a live document.
	Update(tableID, docID string, data *ionvalue.Value) error
	// Delete deletes a live document.
	Delete(tableID, docID string) error

	// CreateTable creates an ACTIVE table and returns its id. The evaluator
	// has already checked the name's syntax and that no active table has it.
	CreateTable(name string) (tableID string, err error)
	// DropTable makes an active table INACTIVE.
	DropTable(tableID string) error
	// UndropTable makes an INACTIVE table ACTIVE again. The evaluator has
	// already checked its status and that no active table shares its name.
	UndropTable(tableID string) error
	// CreateIndex starts building an index on a top-level field and returns
	// the index id. The evaluator has already checked that the table has no
	// index on that field.
	CreateIndex(tableID, field string) (indexID string, err error)
	// DropIndex removes an index.
	DropIndex(tableID, indexID string) error
}

// Document is one live document as a read returns it.
type Document struct {
	// ID is the document id (metadata.id; the BY variable).
	ID string
	// Data is the user view: the latest revision's data, a struct.
	Data *ionvalue.Value
	// Committed is the committed-view struct of the latest committed
	// revision ({blockAddress, hash, data, metadata}), or nil when the
	// document was written by this transaction and not committed yet; the
	// _ql_committed_ view then shows {data, metadata: {id}}.
	Committed *ionvalue.Value
}

// TableInfo describes a user table.
type TableInfo struct {
	ID      string      // table id (tableId)
	Name    string      // case-sensitive table name
	Active  bool        // false once dropped (status INACTIVE)
	Indexes []IndexInfo // in creation order
}

// Index statuses, as information_schema.user_tables reports them. Only an
// IndexOnline index is used for lookups.
const (
	IndexBuilding   = "BUILDING"
	IndexFinalizing = "FINALIZING"
	IndexOnline     = "ONLINE"
	IndexFailed     = "FAILED"
	IndexDeleting   = "DELETING"
)

// IndexInfo describes one index of a table.
type IndexInfo struct {
	ID      string
	Field   string // the indexed top-level field; expr is "[Field]"
	Status  string // one of the Index* constants
	Message string // failure reason when Status is IndexFailed
	Unique  bool   // a unique index (extension mode, see extensions.go)
}

// HistoryQuery restricts History. Start and End are inclusive bounds on the
// time a revision was *active* (from its commit until the next revision's
// commit, or now): a revision is included when it was active at any instant
// in [Start, End]. The zero time means unbounded. DocumentID, when not empty,
// restricts the result to that document (history is indexed by document id).
type HistoryQuery struct {
	Start      time.Time
	End        time.Time
	DocumentID string
}

// Result is what Execute returns for one statement.
type Result struct {
	// Rows are the result values in order: SELECT rows, or one
	// {documentId: "..."} per document an INSERT, UPDATE, DELETE or FROM
	// statement changed, or one {tableId: "..."} for DDL. Rows may share
	// structure with documents and literals: treat them as read-only.
	Rows []*ionvalue.Value
	// DocumentsRead counts documents, revisions and catalog rows read,
	// once per read (a nested-loop join re-reads its inner table for every
	// outer row). This is the basis of ConsumedIOs.ReadIOs.
	DocumentsRead int64
	// DocumentsWritten counts documents inserted, updated or deleted.
	DocumentsWritten int
	// FullScans lists the ids of the tables read with Scan (each once, in
	// first-scan order). Empty when every table access used an index or a
	// document id.
	FullScans []string
}
