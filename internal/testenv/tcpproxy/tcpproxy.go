// Package tcpproxy is a TCP proxy for tests that stands for the network
// between a node and its database, or between two nodes, so that a test
// can partition the two.
//
// The proxy listens on 127.0.0.1 and forwards every connection to a target
// address, byte for byte. At any time, from any goroutine:
//
//   - Cut partitions the link: nothing is forwarded in either direction and
//     nothing is closed. Connections stay open, writes still succeed into
//     the senders' socket buffers, and the peers simply hear nothing, as
//     when packets vanish in a real partition. A new connection is accepted
//     (not refused) but reaches the target only after Heal. A connection one
//     side closes during the cut is closed on the other side after Heal.
//   - Reset is the other kind of failure: every open connection is reset
//     (RST to both sides) and every new one is reset at once, until Heal.
//   - Heal restores forwarding. What the proxy held during a cut is then
//     delivered in order, as TCP's retransmissions deliver it after a real
//     partition heals, to the peers that have not given up meanwhile.
//
// Arm times a fault to a moment of a protocol: a one-shot trigger that
// cuts the link, or resets one connection, when a chosen chunk of bytes
// goes through (after a request was sent and before its answer, between
// the statements of a database transaction).
//
// The proxy never reorders, drops or duplicates bytes on a connection it
// keeps: a connection either carries its stream intact or is reset.
package tcpproxy

import (
	"net"
	"sync"
	"testing"
)

type mode int

const (
	forwarding mode = iota
	cut
	resetting
)

// Proxy is a running proxy. Its methods are safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cond   *sync.Cond
	mode   mode
	closed bool
	conns  map[*link]struct{}
	stats  Stats
	wg     sync.WaitGroup

	tmu     sync.Mutex // guards trigger; held while its match runs
	trigger *trigger   // armed by Arm, nil once fired
}

// Stats counts what the proxy did.
type Stats struct {
	Accepted int // connections accepted from clients
	Reset    int // connections reset (open ones by Reset, new ones while resetting)
}

// link is one proxied connection: the client's and, once dialled, the
// target's.
type link struct {
	id             int // from 1, in the order accepted
	client, server net.Conn
	reset          bool
}

// Start listens on a free loopback port and forwards to target (host:port).
// The proxy closes, with every connection, when the test ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("tcpproxy: listen: %v", err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[*link]struct{}{}}
	p.cond = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's address (127.0.0.1:port), to use in place of the
// target's.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut partitions the link (see the package comment).
func (p *Proxy) Cut() { p.setMode(cut) }

// Reset resets every connection and, until Heal, every new one.
func (p *Proxy) Reset() {
	p.setMode(resetting)
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.conns {
		p.resetLocked(l)
	}
}

// Heal restores forwarding.
func (p *Proxy) Heal() { p.setMode(forwarding) }

// Stats returns the counts so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.ln.Close()
	for l := range p.conns {
		l.close()
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) setMode(m mode) {
	p.mu.Lock()
	p.mode = m
	p.cond.Broadcast()
	p.mu.Unlock()
}

// gate blocks while the link is cut and reports whether the connection may
// go on (false when resetting or closed).
func (p *Proxy) gate() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.mode == cut && !p.closed {
		p.cond.Wait()
	}
	return p.mode == forwarding && !p.closed
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		l := &link{client: c}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.stats.Accepted++
		l.id = p.stats.Accepted
		p.conns[l] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(l)
	}
}

// serve dials the target once the link is up and copies both ways until
// either side ends.
func (p *Proxy) serve(l *link) {
	defer p.wg.Done()
	defer p.forget(l)
	if !p.gate() {
		p.mu.Lock()
		p.resetLocked(l)
		p.mu.Unlock()
		return
	}
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		l.client.Close()
		return
	}
	p.mu.Lock()
	l.server = s
	if p.closed || p.mode == resetting {
		p.resetLocked(l)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { p.pipe(l, ToTarget, l.server, l.client); done <- struct{}{} }()
	go func() { p.pipe(l, FromTarget, l.client, l.server); done <- struct{}{} }()
	<-done
	l.close()
	<-done
}

// pipe copies src to dst (bytes going in direction dir), holding what it
// read while the link is cut; an end of src (or an error) is passed on only
// when the link is up. A chunk that fires the armed trigger (Arm) is
// forwarded up to the trigger's count, and then the trigger's fault
// strikes.
func (p *Proxy) pipe(l *link, dir Direction, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if !p.gate() {
			return // reset or closed: resetLocked or Close closed the link
		}
		chunk := buf[:n]
		if k, fault, fired := p.trip(l, dir, chunk); fired {
			if _, werr := dst.Write(chunk[:k]); werr != nil {
				return
			}
			if fault == ResetConn {
				p.mu.Lock()
				p.resetLocked(l)
				p.mu.Unlock()
				return
			}
			p.Cut()
			chunk = chunk[k:]
			if !p.gate() {
				return
			}
		}
		if len(chunk) > 0 {
			if _, werr := dst.Write(chunk); werr != nil {
				return
			}
		}
		if err != nil {
			return // io.EOF or an error: serve closes both sides
		}
	}
}

func (p *Proxy) forget(l *link) {
	p.mu.Lock()
	delete(p.conns, l)
	p.mu.Unlock()
	l.close()
}

// resetLocked resets both sides of l: with linger 0, Close sends RST.
func (p *Proxy) resetLocked(l *link) {
	if !l.reset {
		l.reset = true
		p.stats.Reset++
	}
	for _, c := range []net.Conn{l.client, l.server} {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		if c != nil {
			c.Close()
		}
	}
}

func (l *link) close() {
	l.client.Close()
	if l.server != nil {
		l.server.Close()
	}
}
