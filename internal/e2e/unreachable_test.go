package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession/types"
	"github.com/aws/smithy-go"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/store/postgres/pgtest"
	"github.com/strand-db/strand/internal/testenv/tcpproxy"
)

// TestUnreachableStoreAnswersRetryable: a node of a cluster that cannot
// reach the database (every connection reset) cannot choose the node that
// serves a ledger, and says so with a retryable error, 503
// CapacityExceededException, which the SDKs retry; once the database is
// back it serves again. It used to take the failed catalogue read for "no
// such ledger", serve the request itself, and fail it with 500
// InternalFailure.
func TestUnreachableStoreAnswersRetryable(t *testing.T) {
	db := pgtest.NewDatabase(t)
	p := tcpproxy.Start(t, mustHost(t, db))
	n := servertest.Start(t, func(c *config.Config) {
		c.Store = viaProxy(t, db, p)
		c.LeaseTTL = time.Second
	})
	n.CreateLedger("cut")
	servertest.Commit(t, n.Driver("cut"), "CREATE TABLE T")

	sc := qldbsession.NewFromConfig(n.AWSConfig(servertest.AccessKeyID, servertest.SecretAccessKey), func(o *qldbsession.Options) {
		o.BaseEndpoint = aws.String(n.URL())
		o.RetryMaxAttempts = 1
	})
	start := func() error {
		_, err := sc.SendCommand(context.Background(), &qldbsession.SendCommandInput{
			StartSession: &types.StartSessionRequest{LedgerName: aws.String("cut")}})
		return err
	}
	p.Reset()
	err := start()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "CapacityExceededException" {
		t.Fatalf("StartSession while the database is unreachable: %v; want CapacityExceededException (503)", err)
	}
	p.Heal()
	deadline := time.Now().Add(30 * time.Second)
	for err = start(); err != nil && time.Now().Before(deadline); err = start() {
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("StartSession once the database is back: %v", err)
	}
}
