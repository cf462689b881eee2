package e2e

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession/types"
	"github.com/aws/smithy-go"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/qldbhash"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv"
)

// noRetrySession returns a session-API client that does not retry, so a
// test sees every answer the server gives.
func noRetrySession(n *servertest.Node) *qldbsession.Client {
	return qldbsession.NewFromConfig(n.AWSConfig(servertest.AccessKeyID, servertest.SecretAccessKey), func(o *qldbsession.Options) {
		o.BaseEndpoint = aws.String(n.URL())
		o.HTTPClient = servertest.HTTPClient(&recorder{})
		o.Retryer = aws.NopRetryer{}
	})
}

// startRaw starts a session with c; the error is the server's answer.
func startRaw(t testing.TB, c *qldbsession.Client, ledger string) (*rawSession, error) {
	out, err := c.SendCommand(bg, &qldbsession.SendCommandInput{StartSession: &types.StartSessionRequest{LedgerName: aws.String(ledger)}})
	if err != nil {
		return nil, err
	}
	return &rawSession{t: t, c: c, token: aws.ToString(out.StartSession.SessionToken)}, nil
}

// overloadAnswer classifies an error a client got under overload: the AWS
// error type with its HTTP status ("CapacityExceededException 503"), or a
// description of anything else.
func overloadAnswer(err error) string {
	var ae smithy.APIError
	var re *awshttp.ResponseError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "client timeout"
	case errors.As(err, &ae) && errors.As(err, &re):
		return fmt.Sprintf("%s %d", ae.ErrorCode(), re.HTTPStatusCode())
	}
	return fmt.Sprintf("other: %v", err)
}

// retryableOverload are the answers a client may get under overload besides
// success: QLDB's throttling and limit errors, with their HTTP statuses.
var retryableOverload = map[string]bool{
	"CapacityExceededException 503": true,
	"ThrottlingException 503":       true,
	"LimitExceededException 400":    true,
	"RateExceededException 400":     true,
}

// TestMaxConcurrentCommands: past --max-concurrent-commands a node refuses a
// command at once with 503 CapacityExceededException (it used to queue
// every command, however many), still serves EndSession, and serves again
// once commands finish.
func TestMaxConcurrentCommands(t *testing.T) {
	n, _ := servertest.StartLedger(t, "admit", func(c *config.Config) {
		noRowsBudget(c)
		c.MaxConcurrentCommands = 2
	})
	c := noRetrySession(n)
	third, err := startRaw(t, c, "admit")
	if err != nil {
		t.Fatal(err)
	}
	third.begin()
	// Two statements that run until their clients give up take both slots.
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	var wg sync.WaitGroup
	for range 2 {
		r := newRaw(t, n, "admit")
		r.begin()
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = r.c.SendCommand(ctx, &qldbsession.SendCommandInput{SessionToken: aws.String(r.token),
				ExecuteStatement: &types.ExecuteStatementRequest{TransactionId: aws.String(r.txID), Statement: aws.String(longJoin),
					Parameters: ionParams(t, longJoinParams()...)}})
		}()
	}
	e := n.Sessions()
	testenv.AwaitTrue(t, "both statements to run", 30*time.Second, func() bool { return e.StatementStats().Running == 2 })

	if _, err := startRaw(t, c, "admit"); overloadAnswer(err) != "CapacityExceededException 503" {
		t.Errorf("StartSession with every slot taken: %v (%s), want CapacityExceededException 503", err, overloadAnswer(err))
	} else if !strings.Contains(err.Error(), "limit of 2 concurrent commands") {
		t.Errorf("message %q does not name the limit", err)
	}
	if _, err := third.exec("SELECT COUNT(*) FROM information_schema.user_tables"); overloadAnswer(err) != "CapacityExceededException 503" {
		t.Errorf("ExecuteStatement with every slot taken: %v, want CapacityExceededException 503", err)
	}
	// Giving resources back is always served.
	if err := third.abort(); err != nil {
		t.Errorf("AbortTransaction with every slot taken: %v", err)
	}
	if _, err := third.send(&qldbsession.SendCommandInput{EndSession: &types.EndSessionRequest{}}); err != nil {
		t.Errorf("EndSession with every slot taken: %v", err)
	}
	cancel()
	wg.Wait()
	testenv.AwaitTrue(t, "the statements to stop", 30*time.Second, func() bool { return e.StatementStats().Running == 0 })
	// The slots came back. A cancelled request's handler may still be
	// finishing, so allow it a moment (no timing is asserted).
	testenv.AwaitTrue(t, "a StartSession to be admitted", 30*time.Second, func() bool {
		r, err := startRaw(t, c, "admit")
		if err == nil {
			_, _ = r.send(&qldbsession.SendCommandInput{EndSession: &types.EndSessionRequest{}})
		}
		return err == nil
	})
}

// TestOverloadAnswersWithThrottling drives a node with small limits (6
// sessions per ledger, 3 concurrent commands) from 16 QLDB drivers and 16
// raw session-API clients at once, each committing inserts in a loop. Every
// answer must be a success or one of QLDB's retryable throttling and limit
// errors with its HTTP status: never a 500, another error or a client
// timeout. Every acknowledged insert is then present. The counts of each
// answer are logged (go test -v).
func TestOverloadAnswersWithThrottling(t *testing.T) {
	const ledger, clients, rounds = "overload", 16, 12
	n, drv := servertest.StartLedger(t, ledger, func(c *config.Config) {
		c.MaxSessionsPerLedger = 6
		c.MaxConcurrentCommands = 3
	})
	servertest.MustQuery(t, drv, "CREATE TABLE T")
	drv.Shutdown(bg)

	var mu sync.Mutex
	answers := map[string]int{}
	acked := 0
	note := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			answers["success"]++
			return
		}
		answers[overloadAnswer(err)]++
	}
	ack := func() { mu.Lock(); acked++; mu.Unlock() }
	// A bound on a hung request, far above any answer's time: reaching it
	// is the failure this test looks for.
	call := func() (context.Context, context.CancelFunc) { return context.WithTimeout(bg, 2*time.Minute) }

	var wg sync.WaitGroup
	for i := range clients {
		d := n.Driver(ledger, func(o *qldbdriver.DriverOptions) { o.MaxConcurrentTransactions = 1 })
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer d.Shutdown(bg)
			for j := range rounds {
				ctx, cancel := call()
				_, err := d.Execute(ctx, func(tx qldbdriver.Transaction) (any, error) {
					return tx.Execute("INSERT INTO T ?", map[string]any{"c": fmt.Sprintf("d%d", i), "j": j})
				})
				cancel()
				note(err)
				if err == nil {
					ack()
				}
			}
		}()
	}
	c := noRetrySession(n)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range rounds {
				r, err := startRaw(t, c, ledger)
				note(err)
				if err != nil {
					continue
				}
				err = rawInsert(r, fmt.Sprintf("r%d", i), j)
				note(err)
				if err == nil {
					ack()
				}
				ctx, cancel := call()
				_, err = r.c.SendCommand(ctx, &qldbsession.SendCommandInput{SessionToken: aws.String(r.token), EndSession: &types.EndSessionRequest{}})
				cancel()
				note(err)
			}
		}()
	}
	wg.Wait()

	keys := make([]string, 0, len(answers))
	for k := range answers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%6d  %s", answers[k], k)
		if k != "success" && !retryableOverload[k] {
			t.Errorf("%d answers %q: want only successes and retryable throttling or limit errors", answers[k], k)
		}
	}
	t.Logf("%d inserts acknowledged", acked)
	if answers["success"] == 0 {
		t.Error("nothing succeeded under overload")
	}
	d := n.Driver(ledger)
	testenv.WantValues(t, "acknowledged inserts", servertest.MustQuery(t, d, "SELECT COUNT(*) FROM T"), fmt.Sprintf("{_1:%d}", acked))
}

// rawInsert commits one insert on r, as the driver would; its error is the
// first refusal, after which the transaction is aborted. (Its requests have
// no deadline of their own: a hang fails the test at go test's timeout.)
func rawInsert(r *rawSession, c string, j int) error {
	out, err := r.send(&qldbsession.SendCommandInput{StartTransaction: &types.StartTransactionRequest{}})
	if err != nil {
		return err
	}
	r.txID = aws.ToString(out.StartTransaction.TransactionId)
	r.digest = qldbhash.NewCommitDigest(r.txID)
	if _, err := r.exec("INSERT INTO T ?", map[string]any{"c": c, "j": j}); err != nil {
		_ = r.abort()
		return err
	}
	if err := r.commit(); err != nil {
		_ = r.abort()
		return err
	}
	return nil
}
