package tcpproxy_test

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/testenv/tcpproxy"
)

// echo starts a server that writes back what it reads.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, p *tcpproxy.Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads as many bytes back within wait.
func roundTrip(c net.Conn, msg string, wait time.Duration) (string, error) {
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	return readBack(c, len(msg), wait)
}

func readBack(c net.Conn, n int, wait time.Duration) (string, error) {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, n)
	got, err := io.ReadFull(c, buf)
	return string(buf[:got]), err
}

// A cut holds every byte in both directions without closing anything, and
// a heal delivers what was held, in order; new connections made during the
// cut are accepted and reach the target after the heal.
func TestCutHoldsAndHealDelivers(t *testing.T) {
	p := tcpproxy.Start(t, echo(t))
	c := dial(t, p)
	if got, err := roundTrip(c, "before", 5*time.Second); err != nil || got != "before" {
		t.Fatalf("before the cut: %q %v", got, err)
	}
	p.Cut()
	got, err := roundTrip(c, "during", 300*time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) || got != "" {
		t.Fatalf("during the cut: read %q, %v; want nothing and a timeout", got, err)
	}
	fresh := dial(t, p) // accepted, not refused
	if _, err := fresh.Write([]byte("fresh")); err != nil {
		t.Fatal(err)
	}
	if got, err := readBack(fresh, 5, 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) || got != "" {
		t.Fatalf("new connection during the cut: read %q, %v; want nothing and a timeout", got, err)
	}
	p.Heal()
	if got, err := readBack(c, len("during"), 5*time.Second); err != nil || got != "during" {
		t.Fatalf("after the heal: %q %v", got, err)
	}
	if got, err := readBack(fresh, 5, 5*time.Second); err != nil || got != "fresh" {
		t.Fatalf("new connection after the heal: %q %v", got, err)
	}
	if got, err := roundTrip(c, "after", 5*time.Second); err != nil || got != "after" {
		t.Fatalf("after the heal: %q %v", got, err)
	}
}

// Reset resets the open connections and every new one until Heal.
func TestResetAndHeal(t *testing.T) {
	p := tcpproxy.Start(t, echo(t))
	c := dial(t, p)
	if got, err := roundTrip(c, "x", 5*time.Second); err != nil || got != "x" {
		t.Fatalf("before: %q %v", got, err)
	}
	p.Reset()
	if _, err := readBack(c, 1, 5*time.Second); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("open connection after Reset: %v, want ECONNRESET", err)
	}
	// The reset may come before the dial returns, or at the first read.
	fresh, err := net.Dial("tcp", p.Addr())
	if err == nil {
		defer fresh.Close()
		_, err = readBack(fresh, 1, 5*time.Second)
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("new connection while resetting: %v, want ECONNRESET", err)
	}
	p.Heal()
	if got, err := roundTrip(dial(t, p), "y", 5*time.Second); err != nil || got != "y" {
		t.Fatalf("after the heal: %q %v", got, err)
	}
	if s := p.Stats(); s.Reset != 2 || s.Accepted != 3 {
		t.Fatalf("stats %+v, want 2 reset of 3 accepted", s)
	}
}
