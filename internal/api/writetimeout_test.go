package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession"
	"github.com/aws/aws-sdk-go-v2/service/qldbsession/types"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
)

// TestStalledReaderIsCutOff: a client that sends a command and then stops
// reading its answer is disconnected once a write of the answer has waited
// --response-write-timeout, which frees the command slot it held. With one
// command slot, another client's command is refused (503
// CapacityExceededException) while the stalled answer holds the slot, and
// served once the stalled client is cut off. Before the timeout existed,
// the slot stayed held for as long as the stalled connection stayed open.
func TestStalledReaderIsCutOff(t *testing.T) {
	n, drv := servertest.StartLedger(t, "stall", func(c *config.Config) {
		c.ResponseWriteTimeout = 500 * time.Millisecond
		c.MaxConcurrentCommands = 1
	})
	servertest.MustQuery(t, drv, "CREATE TABLE T")
	// 80 documents of 100 KB: a first page of about 11 MB of JSON, more
	// than the kernel buffers between the two ends hold.
	doc := strings.Repeat("x", 100_000)
	for range 2 {
		if _, err := drv.Execute(context.Background(), func(tx qldbdriver.Transaction) (any, error) {
			for range 40 {
				if _, err := tx.Execute("INSERT INTO T VALUE {'d': ?}", doc); err != nil {
					return nil, err
				}
			}
			return nil, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	drv.Shutdown(context.Background())

	sc := n.Session(servertest.AccessKeyID, servertest.SecretAccessKey)
	start := func() (token, txID string) {
		s, err := sc.SendCommand(context.Background(), &qldbsession.SendCommandInput{StartSession: &types.StartSessionRequest{LedgerName: aws.String("stall")}})
		if err != nil {
			t.Fatal(err)
		}
		token = *s.StartSession.SessionToken
		x, err := sc.SendCommand(context.Background(), &qldbsession.SendCommandInput{SessionToken: &token, StartTransaction: &types.StartTransactionRequest{}})
		if err != nil {
			t.Fatal(err)
		}
		return token, *x.StartTransaction.TransactionId
	}
	stalledToken, stalledTx := start()
	probeToken, probeTx := start()
	command := func(body any) *http.Request {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r := signedRequest(t, "POST", n.URL()+"/", "application/x-amz-json-1.0", b, servertest.AccessKeyID, servertest.SecretAccessKey, time.Now())
		r.Header.Set("X-Amz-Target", "QLDBSession.SendCommand")
		return r
	}

	// The stalled client: a receive buffer of 4 KB, and it reads nothing.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", strings.TrimPrefix(n.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := command(map[string]any{"SessionToken": stalledToken,
		"ExecuteStatement": map[string]any{"TransactionId": stalledTx, "Statement": "SELECT * FROM T"}}).Write(c); err != nil {
		t.Fatal(err)
	}

	// Probe with a command of the other session (its answer is small)
	// until the stalled answer is seen holding the slot, and then until
	// the slot is free again.
	probe := map[string]any{"SessionToken": probeToken,
		"ExecuteStatement": map[string]any{"TransactionId": probeTx, "Statement": "SELECT COUNT(*) FROM T"}}
	refused, served := 0, false
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !served; {
		e := do(t, command(probe))
		switch {
		case e.status == 503 && e.header == "CapacityExceededException":
			refused++
			time.Sleep(20 * time.Millisecond)
		case refused == 0:
			// Served before the stalled command took the slot.
			time.Sleep(20 * time.Millisecond)
		case e.status == 200:
			served = true
		default:
			t.Fatalf("probe answered %d %s %q", e.status, e.Type, e.Message)
		}
	}
	if !served {
		t.Fatalf("the stalled answer still holds the only command slot after 60 s (%d probes refused)", refused)
	}
	t.Logf("%d probes refused while the stalled answer held the slot", refused)

	// The stalled client got part of its answer, then the connection closed.
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		var got int64
		got, err = io.Copy(io.Discard, resp.Body)
		if err == nil {
			t.Fatalf("the stalled client read the whole answer (%d bytes) after the slot was freed", got)
		}
	}
	t.Logf("the stalled client's answer ended with %v", err)
}
