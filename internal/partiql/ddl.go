package partiql

import (
	"strings"
)

// maxNameLen is QLDB's limit on table and indexed-field names.
const maxNameLen = 128

// validTableName checks QLDB's table name rules: 1-128 characters, a letter
// or underscore first, then letters, digits and underscores; not a reserved
// word; not in the system namespace (_ql_...).
func validTableName(t TableRef) error {
	n := t.Name
	bad := func(why string) error {
		return evalErr(t.Pos, "invalid table name '%s': %s", n, why)
	}
	switch {
	case n == "" || len(n) > maxNameLen:
		return bad("a table name has 1 to 128 characters")
	case !(n[0] == '_' || (n[0] >= 'a' && n[0] <= 'z') || (n[0] >= 'A' && n[0] <= 'Z')):
		return bad("it must start with a letter or an underscore")
	case keywords[strings.ToUpper(n)]:
		return bad("it is a reserved word")
	case strings.HasPrefix(n, "_ql_"):
		return bad("names starting with _ql_ are reserved for system views")
	}
	for _, r := range n {
		if !(r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			return bad("only letters, digits and underscores are allowed")
		}
	}
	return nil
}

func (c *execCtx) execCreateTable(st *CreateTableStmt) error {
	if err := validTableName(st.Table); err != nil {
		return err
	}
	var tags map[string]string
	if st.Tags != nil {
		var err error
		if tags, err = c.tableTags(st.Tags); err != nil {
			return err
		}
	}
	if _, exists := c.tx.Table(st.Table.Name); exists {
		return alreadyExists("Table with name: USER.%s already exists", st.Table.Name)
	}
	id, err := c.createTable(st.Table.Name, tags, st.Pos)
	if err != nil {
		return txErr("create table", err)
	}
	c.res.Rows = append(c.res.Rows, idRow("tableId", id))
	return nil
}

func (c *execCtx) execDropTable(st *DropTableStmt) error {
	t, ok := c.tx.Table(st.Table.Name)
	if !ok {
		return noSuchVariable(st.Table.Pos, st.Table.Name)
	}
	if err := c.tx.DropTable(t.ID); err != nil {
		return txErr("drop table", err)
	}
	c.res.Rows = append(c.res.Rows, idRow("tableId", t.ID))
	return nil
}

func (c *execCtx) execUndropTable(st *UndropTableStmt) error {
	t, ok := c.tx.TableByID(st.TableID)
	if !ok {
		return noSuchVariable(st.Pos, st.TableID)
	}
	if t.Active {
		return alreadyExists("Table with id: %s (USER.%s) is already active", t.ID, t.Name)
	}
	if _, exists := c.tx.Table(t.Name); exists {
		return alreadyExists("Table with name: USER.%s already exists", t.Name)
	}
	if err := c.tx.UndropTable(t.ID); err != nil {
		return txErr("undrop table", err)
	}
	c.res.Rows = append(c.res.Rows, idRow("tableId", t.ID))
	return nil
}

func (c *execCtx) execCreateIndex(st *CreateIndexStmt) error {
	t, ok := c.tx.Table(st.Table.Name)
	if !ok {
		return noSuchVariable(st.Table.Pos, st.Table.Name)
	}
	if len(st.Field) > maxNameLen {
		return evalErr(st.Pos, "invalid index field: a field name has at most 128 characters")
	}
	for _, ix := range t.Indexes {
		if ix.Field == st.Field {
			return alreadyExists("Index on field: %s already exists for table USER.%s", st.Field, t.Name)
		}
	}
	var err error
	if st.Unique {
		_, err = c.createUniqueIndex(st, t) // extensions.go
	} else {
		_, err = c.tx.CreateIndex(t.ID, st.Field)
	}
	if err != nil {
		return txErr("create index", err)
	}
	c.res.Rows = append(c.res.Rows, idRow("tableId", t.ID))
	return nil
}

func (c *execCtx) execDropIndex(st *DropIndexStmt) error {
	t, ok := c.tx.Table(st.Table.Name)
	if !ok {
		return noSuchVariable(st.Table.Pos, st.Table.Name)
	}
	if !st.Purge {
		return evalErr(st.Pos, `DROP INDEX needs WITH (purge = true): DROP INDEX "%s" ON %s WITH (purge = true)`, st.IndexID, t.Name)
	}
	found := false
	for _, ix := range t.Indexes {
		found = found || ix.ID == st.IndexID
	}
	if !found {
		return semanticErr(st.Pos, "No such index '%s' on table %s", st.IndexID, t.Name)
	}
	if err := c.tx.DropIndex(t.ID, st.IndexID); err != nil {
		return txErr("drop index", err)
	}
	c.res.Rows = append(c.res.Rows, idRow("tableId", t.ID))
	return nil
}
