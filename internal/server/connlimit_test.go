package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/qldb"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server"
	"github.com/strand-db/strand/internal/server/servertest"
)

// TestConnectionsBounded: with --max-connections 4, four idle connections
// are held (headers may take up to a minute) while a fifth is closed on
// arrival and counted; once one of the four closes, a client is served
// again. Before the bound, every connection was served, each costing a
// goroutine and its buffers until --read-header-timeout.
func TestConnectionsBounded(t *testing.T) {
	n := servertest.Start(t, func(c *config.Config) {
		c.MaxConnections = 4
		c.ReadHeaderTimeout = time.Minute
		c.MetricsListen = "127.0.0.1:0"
	})
	addr := strings.TrimPrefix(n.URL(), "http://")
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closedByServer reports whether the server closed c within 10 s
	// (an idle connection within the bound stays open for a minute).
	closedByServer := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := c.Read(make([]byte, 1))
		return !errors.Is(err, os.ErrDeadlineExceeded)
	}
	held := make([]net.Conn, 4)
	for i := range held {
		held[i] = dial()
		// A byte of a request line: the connection is being served.
		if _, err := held[i].Write([]byte("G")); err != nil {
			t.Fatal(err)
		}
	}
	extra := dial()
	if !closedByServer(extra) {
		t.Fatal("a fifth connection was kept open with --max-connections 4")
	}
	if text, _ := scrape(t, n.MetricsURL()); !strings.Contains(text, "strand_connections_refused_total 1") {
		t.Errorf("the refused connection was not counted:\n%s", grepLines(text, "strand_connections"))
	}
	// The held connections are still open and served.
	_ = held[0].SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := held[0].Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection within the bound was closed: %v", err)
	}
	if _, err := io.WriteString(held[0], "ET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = held[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(held[0]); err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 200") {
		t.Fatalf("a held connection's request: %q %v", b, err)
	}
	// The metrics listener's connections are counted apart: it answers
	// while the clients' bound is reached.
	if _, ans := probe(t, strings.TrimSuffix(n.MetricsURL(), "/metrics"), "/health"); ans == nil {
		t.Fatal("no answer from /health on the metrics listener")
	}
	// Its slot is free again: an SDK client is served.
	qc := n.QLDB(servertest.AccessKeyID, servertest.SecretAccessKey)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := qc.ListLedgers(ctx, &qldb.ListLedgersInput{}); err != nil {
		t.Fatalf("after a slot was freed: %v", err)
	}
}

// grepLines returns the lines of text that contain sub.
func grepLines(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestMaxConnectionsBeyondOpenFilesWarns: a --max-connections that leaves
// fewer than 1,024 of the process's open-files limit is named at start-up.
func TestMaxConnectionsBeyondOpenFilesWarns(t *testing.T) {
	for _, tc := range []struct {
		max  int
		warn bool
	}{{1 << 30, true}, {64, false}} {
		cfg := config.Default()
		cfg.Listen, cfg.DataDir, cfg.MaxConnections = "127.0.0.1:0", t.TempDir(), tc.max
		var log bytes.Buffer
		node, err := server.Open(cfg, slog.New(slog.NewTextHandler(&log, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if err := node.Listen(); err != nil {
			t.Fatal(err)
		}
		if err := node.Close(); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(log.String(), "--max-connections leaves too few"); got != tc.warn {
			t.Errorf("--max-connections %d: warned %v, want %v:\n%s", tc.max, got, tc.warn, log.String())
		}
	}
}
