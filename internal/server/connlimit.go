package server

import (
	"errors"
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// connLimiter is a listener that serves at most cap(slots) connections at
// once. A connection accepted past the bound is closed at once and counted
// in refused, instead of being served or left in the kernel's queue: a
// flood of connections that send nothing then costs the server a file
// descriptor each for an instant, not a goroutine and its buffers each for
// up to --read-header-timeout, and clients of a full server fail fast and
// retry rather than hang.
type connLimiter struct {
	net.Listener
	slots   chan struct{}
	refused prometheus.Counter
}

// maxMetricsConnections bounds the connections of the metrics listener
// (--metrics-listen), counted apart from the clients' (--max-connections),
// so that a flood of clients does not stop health checks and scrapes.
const maxMetricsConnections = 256

// reservedFiles is how many file descriptors beyond --max-connections the
// node wants left for its store (Pebble's tables and logs), the metrics
// listener and outgoing connections (Kinesis, S3, PostgreSQL, peers).
const reservedFiles = 1024

func newConnLimiter(ln net.Listener, max int, refused prometheus.Counter) *connLimiter {
	return &connLimiter{Listener: ln, slots: make(chan struct{}, max), refused: refused}
}

// Accept returns the next connection within the bound, closing those past
// it.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, slots: l.slots}, nil
		default:
			l.refused.Inc()
			_ = c.Close()
		}
	}
}

// limitedConn gives its slot back when it is first closed: just before
// the close, so that a client that saw it end can connect again at once.
type limitedConn struct {
	net.Conn
	slots chan struct{}
	once  sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { <-c.slots })
	return c.Conn.Close()
}

// CloseWrite half-closes the connection as *net.TCPConn does; net/http uses
// it to end an answer cleanly before it closes a connection whose request
// body it did not read.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
