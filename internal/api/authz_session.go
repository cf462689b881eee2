package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/partiql"
	"github.com/strand-db/strand/internal/policy"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/txn"
)

// Session authorization. Every SendCommand needs qldb:SendCommand on the
// ledger's ARN, in both permissions modes. In an ALLOW_ALL ledger that is
// all (QLDB's legacy rule: SendCommand grants every PartiQL command). In a
// STANDARD ledger each statement also needs, before any of it runs, the
// PartiQL action of its command on every table it touches
// (partiql.Accesses): arn:...:ledger/NAME/table/TABLE-ID, table/* for
// CREATE TABLE, and arn:...:ledger/NAME/information_schema/user_tables for
// the catalog. The ledger's mode is read for every statement, so
// UpdateLedgerPermissionsMode applies to the next statement of every open
// session.

// authorizeSession checks qldb:SendCommand on the session's ledger.
func (s *Handler) authorizeSession(r *http.Request, ledgerName string) *qldberr.Error {
	if !s.policiesOn() {
		return nil
	}
	return s.authorize(r.Context(), "qldb:SendCommand", ledger.LedgerARN(s.opts.Region, s.opts.AccountID, ledgerName), nil)
}

// statementAuthorizer returns ctx carrying the caller's STANDARD-mode
// statement check (txn.WithStatementAuthorizer), or ctx itself without
// policies.
func (s *Handler) statementAuthorizer(ctx context.Context) context.Context {
	if !s.policiesOn() {
		return ctx
	}
	return txn.WithStatementAuthorizer(ctx, func(ledgerName string, accesses []txn.TableAccess) error {
		return s.authorizeStatement(ctx, ledgerName, accesses)
	})
}

// authorizeStatement is the STANDARD-mode check of one statement.
func (s *Handler) authorizeStatement(ctx context.Context, ledgerName string, accesses []txn.TableAccess) error {
	l, err := s.opts.Ledgers.Describe(ledgerName)
	if err != nil {
		return err
	}
	if l.PermissionsMode != "STANDARD" {
		return nil
	}
	base := ledger.LedgerARN(s.opts.Region, s.opts.AccountID, ledgerName)
	for _, a := range accesses {
		if a.Action == "" {
			return qldberr.New(qldberr.BadRequest, "This statement cannot be authorized in the STANDARD permissions mode")
		}
		resource := base + "/table/" + a.TableID
		switch {
		case a.Catalog:
			resource = base + "/information_schema/user_tables"
		case a.NewTable:
			resource = base + "/table/*"
		}
		var cond policy.MapContext
		switch {
		case a.Action == partiql.ActionDropIndex:
			cond = policy.MapContext{"qldb:purge": {strconv.FormatBool(a.Purge)}}
		case a.Tags != nil:
			tags := make(map[string]*string, len(a.Tags))
			for k, v := range a.Tags {
				tags[k] = &v
			}
			cond = tagContext(tags, nil)
		}
		aerr := s.authorize(ctx, a.Action, resource, cond)
		if aerr == nil && a.Action == partiql.ActionCreateTable && len(a.Tags) > 0 {
			// Tagging on creation also needs qldb:TagResource, as in QLDB.
			aerr = s.authorize(ctx, "qldb:TagResource", resource, cond)
		}
		if aerr == nil {
			continue
		}
		if a.TableID != "" {
			// QLDB does not tell a table the caller may not use from one
			// that does not exist: the same error as a missing table.
			name := a.Table
			if name == "" {
				name = a.TableID
			}
			what := fmt.Sprintf("No such variable named '%s'", name)
			return &qldberr.Error{Type: qldberr.BadRequest, Code: partiql.CodeSemantic,
				Message: fmt.Sprintf("Semantic Error: at line %d, column %d: %s; %s", a.Pos.Line, a.Pos.Col, what, what)}
		}
		return &qldberr.Error{Type: qldberr.BadRequest, Message: aerr.Message}
	}
	return nil
}
