package tcpproxy_test

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/strand-db/strand/internal/testenv/tcpproxy"
)

// A trigger armed on a marker forwards the bytes up to the count it
// returns and then cuts the link: the rest is held until Heal and then
// delivered in order.
func TestArmCutsAfterMarker(t *testing.T) {
	got := make(chan string, 16)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		s, err := ln.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		buf := make([]byte, 64)
		for {
			n, err := s.Read(buf)
			if n > 0 {
				got <- string(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	p := tcpproxy.Start(t, ln.Addr().String())
	fired := p.Arm(tcpproxy.ToTarget, func(_ int, chunk []byte) int {
		if i := bytes.Index(chunk, []byte("|")); i >= 0 {
			return i + 1
		}
		return -1
	}, tcpproxy.CutLink)
	c := dial(t, p)
	if _, err := c.Write([]byte("head|tail")); err != nil {
		t.Fatal(err)
	}
	<-fired
	if s := <-got; s != "head|" {
		t.Fatalf("the target got %q; want the bytes up to the marker", s)
	}
	select {
	case s := <-got:
		t.Fatalf("the target got %q while the link was cut", s)
	case <-time.After(300 * time.Millisecond):
	}
	p.Heal()
	if s := <-got; s != "tail" {
		t.Fatalf("after the heal the target got %q; want the held rest", s)
	}
}

// A ResetConn trigger on the answer direction resets that connection only,
// before the answer reaches the client; other connections go on.
func TestArmResetsOneConnection(t *testing.T) {
	p := tcpproxy.Start(t, echo(t))
	other := dial(t, p)
	if got, err := roundTrip(other, "x", 5*time.Second); err != nil || got != "x" {
		t.Fatalf("other connection: %q %v", got, err)
	}
	c := dial(t, p)
	fired := p.Arm(tcpproxy.FromTarget, func(_ int, chunk []byte) int {
		if bytes.Contains(chunk, []byte("boom")) {
			return 0
		}
		return -1
	}, tcpproxy.ResetConn)
	if got, err := roundTrip(c, "boom", 5*time.Second); err == nil || got != "" {
		t.Fatalf("the matched answer came through: %q %v", got, err)
	}
	<-fired
	if got, err := roundTrip(other, "y", 5*time.Second); err != nil || got != "y" {
		t.Fatalf("other connection after the reset: %q %v", got, err)
	}
}
