package partiql

import (
	"github.com/amzn/ion-go/ion"
)

// CREATE TABLE t WITH (aws_tags = `{'key': 'value', ...}`) creates a table
// with tags (QLDB: "tags only in STANDARD permissions mode"). The tags are
// not part of the journal: they are the table's AWS resource tags, which
// ListTagsForResource, TagResource and UntagResource see on the table's
// ARN.

// TableTagger is implemented by a Tx that can create tagged tables.
type TableTagger interface {
	// CreateTaggedTable is CreateTable with tags (values as given; the
	// implementation checks them against AWS's tag rules and returns a
	// *Error or an error of the transaction layer when they break them).
	CreateTaggedTable(name string, tags map[string]string) (tableID string, err error)
}

// tableTags evaluates the aws_tags value: a struct whose values are
// strings (or symbols).
func (c *execCtx) tableTags(e Expr) (map[string]string, error) {
	if err := checkExprCalls(e); err != nil {
		return nil, err
	}
	v, err := c.eval(e, nil)
	if err != nil {
		return nil, err
	}
	if !isStruct(v) {
		return nil, evalErr(e.Position(), "aws_tags must be a struct of tag keys to string values, such as `{'team': 'payments'}`; found %s", describeArg(v))
	}
	tags := make(map[string]string, len(v.Fields))
	for _, f := range v.Fields {
		fv := f.Value
		if fv == nil || fv.IsNullValue() || (fv.Type != ion.StringType && fv.Type != ion.SymbolType) {
			return nil, evalErr(e.Position(), "aws_tags: the value of tag '%s' must be a string, found %s", f.Name, describeArg(fv))
		}
		if _, dup := tags[f.Name]; dup {
			return nil, evalErr(e.Position(), "aws_tags: tag '%s' is given twice", f.Name)
		}
		tags[f.Name] = fv.Text
	}
	return tags, nil
}

// createTable creates a table, with tags when tags is not nil.
func (c *execCtx) createTable(name string, tags map[string]string, pos Pos) (string, error) {
	if tags == nil {
		return c.tx.CreateTable(name)
	}
	tt, ok := c.tx.(TableTagger)
	if !ok {
		return "", unsupportedErr(pos, "CREATE TABLE ... WITH (aws_tags = ...) is not supported by this transaction")
	}
	return tt.CreateTaggedTable(name, tags)
}
