package txn

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/amzn/ion-go/ion"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/partiql"
	"github.com/strand-db/strand/internal/qldbid"
	"github.com/strand-db/strand/internal/store"
)

// The table catalogue of an imported journal. QLDB's journal (and
// Strand's) holds only the hash of each catalogue revision, but every
// block records its transaction's successful statements
// (transactionInfo.statements) and, for every document it wrote, the
// table's id and name and the statements that wrote it
// (transactionInfo.documents). catalogueReplay replays the DDL statements
// in commit order (CREATE TABLE [WITH (aws_tags = ...)], DROP TABLE,
// UNDROP TABLE, CREATE [UNIQUE] INDEX, DROP INDEX) and takes the table ids
// from the documents:
//
//   - A table created by CREATE TABLE gets an id derived from its block
//     and statement (stable across runs) until a document written by a
//     later statement names the table's real id, which then replaces it.
//     UNDROP TABLE "id" also reveals the id of the one dropped table whose
//     id is not known yet. A table that never held a document and was
//     never undropped keeps the derived id (QLDB's is nowhere in the
//     journal).
//   - Index ids are not in the journal either: each index gets a derived
//     id. DROP INDEX "id" ON T drops the index with that id or, when T has
//     exactly one index of unknown id, that one; otherwise it is reported
//     and the indexes are kept.
//   - A document of a table id no statement accounts for adds that table,
//     ACTIVE, named as the document names it.
//   - The version of a catalogue entry counts the blocks that changed the
//     table after the one that created it, as commit numbers its system
//     revisions.
//
// Statements that do not parse or name a table the replay does not know
// are reported (Notes) and skipped.
type catalogueReplay struct {
	strand string
	tables map[string]*tableMeta // by id
	order  []string              // ids, in creation order
	known  map[string]bool       // ids the journal revealed
	tags   map[*tableMeta]map[string]string
	Notes  []string
}

func newCatalogueReplay(strand string) *catalogueReplay {
	return &catalogueReplay{strand: strand, tables: map[string]*tableMeta{}, known: map[string]bool{}, tags: map[*tableMeta]map[string]string{}}
}

// derivedID is a stable id for something the journal does not name.
func (c *catalogueReplay) derivedID(kind string, seq uint64, stmt int) string {
	h := sha256.Sum256([]byte(c.strand + "/" + kind + "/" + strconv.FormatUint(seq, 10) + "/" + strconv.Itoa(stmt)))
	var b [16]byte
	copy(b[:], h[:16])
	return qldbid.Encode(b)
}

func (c *catalogueReplay) note(b *journal.Block, format string, args ...any) {
	c.Notes = append(c.Notes, fmt.Sprintf("block %d: ", b.Address.SequenceNo)+fmt.Sprintf(format, args...))
}

// active returns the ACTIVE table named name.
func (c *catalogueReplay) active(name string) *tableMeta {
	for _, id := range c.order {
		if tm := c.tables[id]; tm.Active && tm.Name == name {
			return tm
		}
	}
	return nil
}

// reveal gives table tm its real id.
func (c *catalogueReplay) reveal(tm *tableMeta, id string) {
	for i, old := range c.order {
		if old == tm.ID {
			c.order[i] = id
		}
	}
	delete(c.tables, tm.ID)
	tm.ID = id
	c.tables[id] = tm
	c.known[id] = true
}

// block replays one block.
func (c *catalogueReplay) block(b *journal.Block) {
	touched := map[*tableMeta]bool{}
	created := map[*tableMeta]bool{}
	byStmt := map[int][]journal.DocumentInfo{}
	var unplaced []journal.DocumentInfo
	for _, d := range b.TransactionInfo.Documents {
		if d.TableID == "" {
			continue
		}
		if len(d.Statements) == 0 {
			unplaced = append(unplaced, d)
		}
		for _, i := range d.Statements {
			byStmt[i] = append(byStmt[i], d)
		}
	}
	for i, s := range b.TransactionInfo.Statements {
		for _, d := range byStmt[i] {
			c.document(d)
		}
		c.statement(b, i, s.Statement, touched, created)
	}
	for _, d := range unplaced {
		c.document(d)
	}
	for tm := range touched {
		if !created[tm] {
			tm.Version++
		}
	}
}

// document accounts for a document of table d.TableID named d.TableName.
func (c *catalogueReplay) document(d journal.DocumentInfo) {
	if _, ok := c.tables[d.TableID]; ok {
		return
	}
	if tm := c.active(d.TableName); tm != nil && !c.known[tm.ID] {
		c.reveal(tm, d.TableID)
		return
	}
	c.tables[d.TableID] = &tableMeta{ID: d.TableID, Name: d.TableName, Active: true}
	c.order = append(c.order, d.TableID)
	c.known[d.TableID] = true
}

// statement replays statement i of block b, if it changes the catalogue.
func (c *catalogueReplay) statement(b *journal.Block, i int, text string, touched, created map[*tableMeta]bool) {
	st, err := partiql.Parse(text)
	if err != nil {
		// Only DDL matters: a statement the parser refuses cannot be one
		// Strand ran; QLDB's dialect may hold others.
		return
	}
	seq := b.Address.SequenceNo
	switch s := st.Body.(type) {
	case *partiql.CreateTableStmt:
		if c.active(s.Table.Name) != nil {
			c.note(b, "%q: an active table %s already exists; skipped", text, s.Table.Name)
			return
		}
		tm := &tableMeta{ID: c.derivedID("table", seq, i), Name: s.Table.Name, Active: true}
		c.tables[tm.ID] = tm
		c.order = append(c.order, tm.ID)
		touched[tm], created[tm] = true, true
		if s.Tags != nil {
			if tags, ok := literalTags(s.Tags); ok {
				c.tags[tm] = tags
			} else {
				c.note(b, "%q: the aws_tags value is not a literal struct of strings; table %s is imported without tags", text, s.Table.Name)
			}
		}
	case *partiql.DropTableStmt:
		tm := c.active(s.Table.Name)
		if tm == nil {
			c.note(b, "%q: no active table %s; skipped", text, s.Table.Name)
			return
		}
		tm.Active = false
		touched[tm] = true
	case *partiql.UndropTableStmt:
		tm, ok := c.tables[s.TableID]
		if !ok {
			var cands []*tableMeta
			for _, id := range c.order {
				if t := c.tables[id]; !t.Active && !c.known[id] {
					cands = append(cands, t)
				}
			}
			if len(cands) != 1 {
				c.note(b, "%q: cannot tell which of %d dropped tables of unknown id it names; skipped", text, len(cands))
				return
			}
			tm = cands[0]
			c.reveal(tm, s.TableID)
		}
		tm.Active = true
		touched[tm] = true
	case *partiql.CreateIndexStmt:
		tm := c.active(s.Table.Name)
		if tm == nil {
			c.note(b, "%q: no active table %s; skipped", text, s.Table.Name)
			return
		}
		if hasIndex(tm, s.Field) {
			c.note(b, "%q: table %s already has an index on %s; skipped", text, tm.Name, s.Field)
			return
		}
		tm.Indexes = append(tm.Indexes, indexMeta{ID: c.derivedID("index", seq, i), Field: s.Field, Status: partiql.IndexOnline, Unique: s.Unique})
		touched[tm] = true
	case *partiql.DropIndexStmt:
		tm := c.active(s.Table.Name)
		if tm == nil {
			c.note(b, "%q: no active table %s; skipped", text, s.Table.Name)
			return
		}
		at := -1
		for j, ix := range tm.Indexes {
			if ix.ID == s.IndexID {
				at = j
			}
		}
		if at < 0 {
			if len(tm.Indexes) != 1 {
				c.note(b, "%q: the index ids of table %s are not in the journal and it has %d indexes: cannot tell which one it drops; all are kept", text, tm.Name, len(tm.Indexes))
				return
			}
			at = 0
		}
		tm.Indexes = append(tm.Indexes[:at:at], tm.Indexes[at+1:]...)
		touched[tm] = true
	}
}

// literalTags reads aws_tags given as an Ion literal struct of strings.
func literalTags(e partiql.Expr) (map[string]string, bool) {
	lit, ok := e.(*partiql.Lit)
	if !ok || lit.Value == nil || lit.Value.Type != ion.StructType || lit.Value.IsNullValue() {
		return nil, false
	}
	tags := map[string]string{}
	for _, f := range lit.Value.Fields {
		if f.Value == nil || f.Value.IsNullValue() || (f.Value.Type != ion.StringType && f.Value.Type != ion.SymbolType) {
			return nil, false
		}
		tags[f.Name] = f.Value.Text
	}
	return tags, true
}

// write queues the catalogue (t/) and the tables' tags (g/).
func (c *catalogueReplay) write(k keys, batch store.Batch) error {
	for _, id := range c.order {
		tm := c.tables[id]
		v, err := json.Marshal(tm)
		if err != nil {
			return fmt.Errorf("txn: import: %w", err)
		}
		if err := batch.Set(k.table(id), v); err != nil {
			return fmt.Errorf("txn: import: %w", err)
		}
		if tags := c.tags[tm]; tags != nil {
			raw, err := json.Marshal(tags)
			if err != nil {
				return fmt.Errorf("txn: import: %w", err)
			}
			if err := batch.Set(k.tableTags(id), raw); err != nil {
				return fmt.Errorf("txn: import: %w", err)
			}
		}
	}
	return nil
}
