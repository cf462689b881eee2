package txn

import (
	"encoding/json"
	"fmt"

	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/partiql"
	"github.com/strand-db/strand/internal/qldberr"
)

// Table tags: the AWS resource tags of a table, set by CREATE TABLE ...
// WITH (aws_tags = `{...}`) and by TagResource / UntagResource on the
// table's ARN (arn:aws:qldb:REGION:ACCOUNT:ledger/NAME/table/TABLEID),
// read by ListTagsForResource. As in QLDB they are not journal data: they
// live under the ledger's g/<tableId> key (a JSON object), written by the
// commit that creates the table and afterwards only by the tag operations,
// which read-modify-write under the ledger's tag lock (a table is durable
// before any tag operation can name it, so the two writers never meet).
// The same rules as for ledger tags apply (package ledger): at most 200
// tags, keys of 1 to 128 characters not starting with aws:, values of at
// most 256.

func (k keys) tableTags(tableID string) []byte { return k.cat([]byte("g/"), []byte(tableID)) }

var _ partiql.TableTagger = (*Transaction)(nil)

// CreateTaggedTable implements partiql.TableTagger. QLDB accepted tags on
// CREATE TABLE only on a ledger in the STANDARD permissions mode.
func (t *Transaction) CreateTaggedTable(name string, tags map[string]string) (string, error) {
	if mode := t.ledger.permissionsMode(); mode != ledger.PermissionsStandard {
		return "", &partiql.Error{Code: partiql.CodeEvaluation, Message: fmt.Sprintf(
			"Evaluation Error: CREATE TABLE ... WITH (aws_tags = ...) needs a ledger in the STANDARD permissions mode; ledger %s is %s (tag the table with TagResource instead)", t.ledger.Name, mode)}
	}
	req := make(map[string]*string, len(tags))
	for k, v := range tags {
		req[k] = &v
	}
	stored, err := ledger.NewTags(req)
	if err != nil {
		return "", err
	}
	id, err := t.CreateTable(name)
	if err != nil {
		return "", err
	}
	t.tables[id].tags = stored
	return id, nil
}

// permissionsMode is the ledger's permissions mode as the catalogue has it
// now ("" when unknown).
func (l *LedgerEngine) permissionsMode() string {
	if l.catalog == nil {
		return ""
	}
	e, err := l.catalog.Describe(l.Name)
	if err != nil {
		return ""
	}
	return e.PermissionsMode
}

// storeTableTags queues the tags of a table created by a commit.
func (l *LedgerEngine) storeTableTags(tm *tableMeta, set func(k, v []byte)) error {
	if tm.tags == nil {
		return nil
	}
	raw, err := json.Marshal(tm.tags)
	if err != nil {
		return fmt.Errorf("txn: table tags: %w", err)
	}
	set(l.keys.tableTags(tm.ID), raw)
	tm.tags = nil
	return nil
}

// tableFromARN resolves a table ARN to its ledger engine and table id.
func (e *Engine) tableFromARN(a ledger.ARN, raw string) (*LedgerEngine, string, error) {
	notFound := qldberr.NotFound("TABLE", raw, "Resource %s does not exist", raw)
	if a.TableID == "" || !e.catalog.InPartition(a) {
		return nil, "", notFound
	}
	if _, err := e.catalog.Describe(a.Ledger); err != nil {
		return nil, "", notFound
	}
	l, err := e.Ledger(a.Ledger)
	if err != nil {
		return nil, "", err
	}
	if _, ok := l.table(a.TableID); !ok {
		return nil, "", notFound
	}
	return l, a.TableID, nil
}

// readTableTags returns a durable table's tags (nil when it has none).
func (l *LedgerEngine) readTableTags(tableID string) (map[string]string, error) {
	raw, ok, err := l.st.Get(l.keys.tableTags(tableID))
	if err != nil {
		return nil, fmt.Errorf("txn: table tags: %w", err)
	}
	if !ok {
		return nil, nil
	}
	var tags map[string]string
	if err := json.Unmarshal(raw, &tags); err != nil {
		return nil, fmt.Errorf("txn: table tags of %s: %w", tableID, err)
	}
	return tags, nil
}

// modifyTableTags replaces a durable table's tags with fn's result.
func (l *LedgerEngine) modifyTableTags(tableID string, fn func(map[string]string) (map[string]string, error)) error {
	l.tagsMu.Lock()
	defer l.tagsMu.Unlock()
	old, err := l.readTableTags(tableID)
	if err != nil {
		return err
	}
	next, err := fn(old)
	if err != nil {
		return err
	}
	b := l.st.NewBatch()
	defer b.Close()
	if err := l.fence.expect(b); err != nil {
		return fmt.Errorf("txn: table tags: %w", err)
	}
	if len(next) == 0 {
		err = b.Delete(l.keys.tableTags(tableID))
	} else {
		raw, merr := json.Marshal(next)
		if merr != nil {
			return fmt.Errorf("txn: table tags: %w", merr)
		}
		err = b.Set(l.keys.tableTags(tableID), raw)
	}
	if err != nil {
		return fmt.Errorf("txn: table tags: %w", err)
	}
	if err := l.st.Apply(b); err != nil {
		return fmt.Errorf("txn: table tags: %w", err)
	}
	return nil
}

// Tag adds or replaces tags on the table named by a table ARN
// (TagResource).
func (e *Engine) Tag(a ledger.ARN, raw string, tags map[string]*string) error {
	l, id, err := e.tableFromARN(a, raw)
	if err != nil {
		return err
	}
	add, err := ledger.TagsToAdd(tags)
	if err != nil {
		return err
	}
	return l.modifyTableTags(id, func(old map[string]string) (map[string]string, error) {
		return ledger.WithTags(old, add)
	})
}

// Untag removes tag keys from the table named by a table ARN
// (UntagResource); absent keys are ignored.
func (e *Engine) Untag(a ledger.ARN, raw string, keys []string) error {
	l, id, err := e.tableFromARN(a, raw)
	if err != nil {
		return err
	}
	if err := ledger.ValidateTagKeys(keys); err != nil {
		return err
	}
	return l.modifyTableTags(id, func(old map[string]string) (map[string]string, error) {
		return ledger.WithoutTags(old, keys), nil
	})
}

// Tags returns the tags of the table named by a table ARN
// (ListTagsForResource).
func (e *Engine) Tags(a ledger.ARN, raw string) (map[string]string, error) {
	l, id, err := e.tableFromARN(a, raw)
	if err != nil {
		return nil, err
	}
	return l.readTableTags(id)
}
