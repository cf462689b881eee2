// Package partiql parses and evaluates the PartiQL dialect of Amazon QLDB.
//
// Parse turns a statement into an immutable *Statement (cache it by text);
// ExecuteContext runs it against a Tx, the transaction layer's view of the ledger,
// and returns a *Result. The package knows nothing of storage, sessions or
// HTTP.
//
// Supported now: CREATE TABLE [WITH (aws_tags = ...)], DROP TABLE, UNDROP
// TABLE, CREATE INDEX, DROP INDEX; EXEC redact_revision (procs.go); INSERT INTO t VALUE v | << ... >> | ?; SELECT [VALUE] ... FROM
// with comma and [INNER|CROSS] JOIN ... ON, AS/AT/BY, WHERE; sources that are
// user tables, _ql_committed_<table>, history(t | 'id' [, start [, end]]),
// information_schema.user_tables, paths into earlier rows (unnesting) and
// subqueries, and values as sources (FROM << 0 >>, FROM `[1, 2]` AS x: a
// collection gives a row per element, anything else one row); UPDATE ...
// SET/REMOVE, DELETE, FROM ... INSERT INTO/SET/REMOVE; the operators = <>
// != < <= > >= AND OR NOT IN BETWEEN LIKE + - * / % || and the type
// predicate IS [NOT] type for NULL, MISSING and every Ion type (typepred.go);
// the aggregates COUNT SUM MIN MAX AVG (no GROUP BY, as in QLDB) and the
// functions TXID UPPER LOWER CHAR_LENGTH CHARACTER_LENGTH SIZE COALESCE
// NULLIF EXISTS CAST SUBSTRING TRIM DATE_ADD DATE_DIFF EXTRACT TO_STRING
// TO_TIMESTAMP UTCNOW (funcs*.go; SQL's keyword forms such as CAST(x AS t),
// TRIM(LEADING c FROM s) and EXTRACT(part FROM t) are parsed in
// parser_funcs.go into plain calls).
//
// Not in QLDB's PartiQL and refused with a positioned error rather than
// ignored: ORDER BY, GROUP BY, HAVING, LIMIT, OFFSET and set operators (one
// check, strict.go), SELECT DISTINCT, CASE and outer joins.
//
// Semantics follow PartiQL as QLDB runs it: names (tables, fields,
// variables) are case-sensitive and keywords are not; an unknown field is
// MISSING; comparisons with NULL or MISSING are not true; numbers compare by
// value across int, decimal and float; timestamps by instant; = on
// containers is deep equality. Equality filters on indexed fields and on
// document ids become index reads (see plan.go). ORDER BY, LIMIT, OFFSET
// and CREATE UNIQUE INDEX are parsed always and run only in the extension
// mode (extensions.go).
package partiql
