package e2e

import (
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/qldbsession/types"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"
	"github.com/strand-db/strand/internal/server/servertest"
	"github.com/strand-db/strand/internal/testenv"
)

// TestSerializableTransfers runs 64 concurrent driver clients moving random
// amounts between 20 accounts (about 1,500 transfers, each retried on OCC).
// A transfer that would overdraw moves nothing (a read-only transaction).
// Serializability means: every account ends at its starting balance plus
// the net of the committed transfers as the clients saw them, no balance is
// negative, the total is unchanged, and the journal holds exactly one
// verified, chained block per committed transaction.
func TestSerializableTransfers(t *testing.T) {
	const (
		accounts  = 20
		start     = 1000
		clients   = 64
		perClient = 24 // 1,536 transfers
	)
	n, _ := servertest.StartLedger(t, "bank", nil)
	// Two of 20 accounts per transfer and 64 clients: most first attempts
	// conflict. A backoff well above the transaction's length lets the
	// retries spread out instead of colliding again (the driver's default
	// 10 ms base wastes several attempts per transfer, which costs minutes
	// under -race).
	drv := n.PooledDriver("bank", clients, func(o *qldbdriver.DriverOptions) {
		o.RetryPolicy = qldbdriver.RetryPolicy{MaxRetryLimit: 20,
			Backoff: qldbdriver.ExponentialBackoffStrategy{SleepBase: 100 * time.Millisecond, SleepCap: 5 * time.Second}}
	})
	l := n.LedgerEngine("bank")
	servertest.MustQuery(t, drv, "CREATE TABLE Accounts")
	servertest.MustQuery(t, drv, "CREATE INDEX ON Accounts (id)")
	_, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
		for i := 0; i < accounts; i++ {
			if _, err := tx.Execute("INSERT INTO Accounts VALUE {'id': ?, 'bal': ?}", acct(i), start); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	setupBlocks := l.Next()

	type outcome struct {
		from, to int
		moved    int64
	}
	var (
		mu        sync.Mutex
		committed []outcome
		attempts  int
		occFailed int
		wg        sync.WaitGroup
	)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rnd := rand.New(rand.NewSource(seed))
			for k := 0; k < perClient; k++ {
				from := rnd.Intn(accounts)
				to := (from + 1 + rnd.Intn(accounts-1)) % accounts
				amount := int64(1 + rnd.Intn(150))
				res, err := drv.Execute(bg, func(tx qldbdriver.Transaction) (any, error) {
					mu.Lock()
					attempts++
					mu.Unlock()
					rows, err := servertest.Rows(tx, "SELECT id, bal FROM Accounts WHERE id IN (?, ?)", acct(from), acct(to))
					if err != nil {
						return nil, err
					}
					bal := map[string]int64{}
					for _, r := range rows {
						bal[r.Get("id").Text] = r.Get("bal").Int
					}
					if len(bal) != 2 {
						return nil, fmt.Errorf("read %d accounts of %s, %s: %v", len(bal), acct(from), acct(to), testenv.IonTexts(rows))
					}
					if bal[acct(from)] < amount {
						return int64(0), nil // would overdraw: commit the read only
					}
					if _, err := tx.Execute("UPDATE Accounts SET bal = ? WHERE id = ?", bal[acct(from)]-amount, acct(from)); err != nil {
						return nil, err
					}
					if _, err := tx.Execute("UPDATE Accounts SET bal = ? WHERE id = ?", bal[acct(to)]+amount, acct(to)); err != nil {
						return nil, err
					}
					return amount, nil
				})
				var occ *types.OccConflictException
				switch {
				case err == nil:
					mu.Lock()
					committed = append(committed, outcome{from, to, res.(int64)})
					mu.Unlock()
				case errors.As(err, &occ):
					mu.Lock()
					occFailed++
					mu.Unlock()
				default:
					t.Errorf("transfer %s -> %s: %v", acct(from), acct(to), err)
				}
			}
		}(int64(c))
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	blocksAfter := l.Next()

	want := make([]int64, accounts)
	for i := range want {
		want[i] = start
	}
	moves := 0
	for _, o := range committed {
		want[o.from] -= o.moved
		want[o.to] += o.moved
		if o.moved > 0 {
			moves++
		}
	}
	t.Logf("%d transfers committed (%d moved money, %d read-only), %d gave up on OCC, %d attempts",
		len(committed), moves, len(committed)-moves, occFailed, attempts)
	if len(committed) < clients*perClient/2 {
		t.Errorf("only %d of %d transfers committed", len(committed), clients*perClient)
	}

	rows := servertest.MustQuery(t, drv, "SELECT id, bal FROM Accounts")
	if len(rows) != accounts {
		t.Fatalf("%d accounts, want %d", len(rows), accounts)
	}
	var total int64
	for _, r := range rows {
		var i int
		if _, err := fmt.Sscanf(r.Get("id").Text, "acct-%d", &i); err != nil {
			t.Fatalf("account row %v", r)
		}
		bal := r.Get("bal").Int
		total += bal
		if bal != want[i] {
			t.Errorf("%s: balance %d, want %d from the committed transfers (lost or phantom update)", acct(i), bal, want[i])
		}
		if bal < 0 {
			t.Errorf("%s: negative balance %d (write skew)", acct(i), bal)
		}
	}
	if total != accounts*start {
		t.Errorf("total balance %d, want %d", total, accounts*start)
	}

	if got := blocksAfter - setupBlocks; got != uint64(len(committed)) {
		t.Errorf("%d blocks for %d committed transfers", got, len(committed))
	}
	bs := servertest.VerifyChain(t, l)
	seen := map[string]bool{}
	for _, b := range bs {
		if seen[b.TransactionID] {
			t.Errorf("transaction %s wrote two blocks", b.TransactionID)
		}
		seen[b.TransactionID] = true
	}
}

func acct(i int) string { return fmt.Sprintf("acct-%d", i) }
