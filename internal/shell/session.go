package shell

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession/types"
	"github.com/aws/smithy-go"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/qldbhash"
)

// Sender is the one QLDBSession operation the shell uses; a
// *qldbsession.Client is one.
type Sender interface {
	SendCommand(ctx context.Context, in *qldbsession.SendCommandInput, optFns ...func(*qldbsession.Options)) (*qldbsession.SendCommandOutput, error)
}

// session is one QLDB session on a ledger with at most one open
// transaction, spoken to with SendCommand directly (the driver's
// Execute(func) shape cannot keep a transaction open across prompts).
type session struct {
	c      Sender
	ledger string
	token  string

	txID   string
	digest *qldbhash.CommitDigest
}

// usage adds up what the server reported for one statement: I/Os and
// server-side processing time across its ExecuteStatement, FetchPage and
// (in auto-commit) CommitTransaction calls.
type usage struct {
	readIOs, writeIOs int64
	serverMillis      int64
}

func (u *usage) add(io *types.IOUsage, ti *types.TimingInformation) {
	if io != nil {
		u.readIOs += io.ReadIOs
		u.writeIOs += io.WriteIOs
	}
	if ti != nil {
		u.serverMillis += ti.ProcessingTimeMilliseconds
	}
}

func (s *session) send(ctx context.Context, in *qldbsession.SendCommandInput) (*qldbsession.SendCommandOutput, error) {
	if in.StartSession == nil {
		if s.token == "" {
			if err := s.start(ctx); err != nil {
				return nil, err
			}
		}
		in.SessionToken = aws.String(s.token)
	}
	out, err := s.c.SendCommand(ctx, in)
	if err != nil {
		var inv *types.InvalidSessionException
		if errors.As(err, &inv) {
			// The server dropped the session (and any transaction in it):
			// the next command starts a new one.
			s.token, s.txID, s.digest = "", "", nil
		}
		return nil, err
	}
	return out, nil
}

func (s *session) start(ctx context.Context) error {
	out, err := s.c.SendCommand(ctx, &qldbsession.SendCommandInput{StartSession: &types.StartSessionRequest{LedgerName: aws.String(s.ledger)}})
	if err != nil {
		return err
	}
	if out.StartSession == nil || out.StartSession.SessionToken == nil {
		return errors.New("shell: StartSession returned no session token")
	}
	s.token = *out.StartSession.SessionToken
	return nil
}

// begin starts a transaction.
func (s *session) begin(ctx context.Context) error {
	out, err := s.send(ctx, &qldbsession.SendCommandInput{StartTransaction: &types.StartTransactionRequest{}})
	if err != nil {
		return err
	}
	if out.StartTransaction == nil || out.StartTransaction.TransactionId == nil {
		return errors.New("shell: StartTransaction returned no transaction id")
	}
	s.txID = *out.StartTransaction.TransactionId
	s.digest = qldbhash.NewCommitDigest(s.txID)
	return nil
}

// execute runs one statement in the open transaction and reads every page
// of its result.
func (s *session) execute(ctx context.Context, stmt string, u *usage) ([]*ionvalue.Value, error) {
	out, err := s.send(ctx, &qldbsession.SendCommandInput{ExecuteStatement: &types.ExecuteStatementRequest{
		TransactionId: aws.String(s.txID), Statement: aws.String(stmt)}})
	if err != nil {
		return nil, err
	}
	if s.digest != nil {
		s.digest.Add(qldbhash.StatementHash(stmt, nil))
	}
	r := out.ExecuteStatement
	if r == nil {
		return nil, errors.New("shell: ExecuteStatement returned no result")
	}
	u.add(r.ConsumedIOs, r.TimingInformation)
	var rows []*ionvalue.Value
	page := r.FirstPage
	for page != nil {
		for _, h := range page.Values {
			v, err := ionvalue.DecodeOne(h.IonBinary)
			if err != nil {
				return rows, fmt.Errorf("shell: result value: %w", err)
			}
			rows = append(rows, v)
		}
		if page.NextPageToken == nil {
			break
		}
		fo, err := s.send(ctx, &qldbsession.SendCommandInput{FetchPage: &types.FetchPageRequest{
			TransactionId: aws.String(s.txID), NextPageToken: page.NextPageToken}})
		if err != nil {
			return rows, err
		}
		if fo.FetchPage == nil {
			return rows, errors.New("shell: FetchPage returned no result")
		}
		u.add(fo.FetchPage.ConsumedIOs, fo.FetchPage.TimingInformation)
		page = fo.FetchPage.Page
	}
	return rows, nil
}

// commit commits the open transaction with the driver's commit digest.
func (s *session) commit(ctx context.Context, u *usage) error {
	txID, digest := s.txID, s.digest.Sum()
	s.txID, s.digest = "", nil
	out, err := s.send(ctx, &qldbsession.SendCommandInput{CommitTransaction: &types.CommitTransactionRequest{
		TransactionId: aws.String(txID), CommitDigest: digest}})
	if err != nil {
		return err
	}
	if out.CommitTransaction != nil && u != nil {
		u.add(out.CommitTransaction.ConsumedIOs, out.CommitTransaction.TimingInformation)
	}
	return nil
}

// abort aborts the open transaction, if any.
func (s *session) abort(ctx context.Context) error {
	if s.txID == "" {
		return nil
	}
	s.txID, s.digest = "", nil
	_, err := s.send(ctx, &qldbsession.SendCommandInput{AbortTransaction: &types.AbortTransactionRequest{}})
	return err
}

// end ends the session (best effort: the server expires it anyway).
func (s *session) end(ctx context.Context) {
	if s.token == "" {
		return
	}
	_, _ = s.c.SendCommand(ctx, &qldbsession.SendCommandInput{SessionToken: aws.String(s.token), EndSession: &types.EndSessionRequest{}})
	s.token = ""
}

// inTx reports whether a transaction is open.
func (s *session) inTx() bool { return s.txID != "" }

// retryable reports whether an auto-commit statement may run again in a new
// transaction: after an optimistic concurrency conflict, or when the server
// no longer knows the session (expired or lost; nothing was committed).
func retryable(err error) bool {
	var occ *types.OccConflictException
	var inv *types.InvalidSessionException
	return errors.As(err, &occ) || errors.As(err, &inv)
}

// describe renders err for the user: the AWS error code and message when the
// server sent one.
func describe(err error) string {
	if errors.Is(err, context.Canceled) {
		return "cancelled"
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return err.Error()
}
