// Package testenv is what the tests of every layer share: waiting for a
// condition with a deadline (Await) and Ion literals (ion.go). It depends
// on nothing of Strand's but ionvalue, so the unit tests of any package
// above ionvalue may use it. Its subpackages are test-only environments:
// Kinesis emulators (kinesisemu), a fault-injecting proxy (faultproxy) and
// a fast builder of real ledgers (ledgerfill). Nodes, clients and drivers
// for end-to-end tests are in internal/server/servertest.
package testenv

import (
	"testing"
	"time"
)

// Await calls check every 10 ms until it returns nil, and fails the test
// with check's last error once timeout has passed. The timeout bounds a
// failing test only (it is generous: the machine may be loaded); nothing
// asserts how fast the condition came true. check runs on the test's
// goroutine, so it may itself call t.Fatal.
func Await(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %v: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// AwaitTrue is Await for a condition without details: it fails with
// "gave up waiting for <what>".
func AwaitTrue(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	Await(t, timeout, func() error {
		if cond() {
			return nil
		}
		return waitingFor(what)
	})
}

type waitingFor string

func (w waitingFor) Error() string { return "waiting for " + string(w) }
