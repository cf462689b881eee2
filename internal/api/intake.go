package api

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strand-db/strand/internal/qldberr"
)

// Errors of request intake.
const (
	errThrottling     = "ThrottlingException"
	errRequestTimeout = "RequestTimeoutException"
)

// Intake defaults, used when Options leave them zero.
const (
	DefaultBodyReadTimeout      = 30 * time.Second
	DefaultResponseWriteTimeout = 60 * time.Second
	DefaultMaxInflightBodyBytes = 64 << 20
	// DefaultMaxConcurrentCommands is generous: a node serves far fewer
	// statements at once usefully (they share its cores and one committer
	// per ledger), but a bound this high only refuses a true pile-up.
	DefaultMaxConcurrentCommands = 1024
)

// commandSlots bounds the SendCommand requests a node serves at once. Like
// the body budget, and like PostgreSQL past max_connections, it refuses at
// once instead of queueing: a request past the bound gets 503
// CapacityExceededException, so that under overload clients get QLDB's
// capacity error promptly rather than waiting in an unbounded queue until
// their own timeouts fire.
type commandSlots struct {
	used atomic.Int64
	max  int64
}

// acquire takes a slot, or reports false when all are taken.
func (c *commandSlots) acquire() bool {
	if c.used.Add(1) > c.max {
		c.used.Add(-1)
		return false
	}
	return true
}

func (c *commandSlots) release() { c.used.Add(-1) }

// bodyBudget bounds the bytes of request bodies the server holds at once,
// read or being read, across all connections. A request whose body would
// pass the bound is refused at once (the AWS SDKs and the QLDB drivers
// retry a 503 with backoff) rather than queued, so a flood of slow senders
// cannot make correct clients wait behind it. A single body larger than
// the whole bound is admitted when nothing else is held.
type bodyBudget struct {
	mu   sync.Mutex
	used int64
	max  int64
}

func (b *bodyBudget) acquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used > 0 && b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

func (b *bodyBudget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// closeUnread makes the connection close after the response without
// reading any more of the request: used whenever the server answers without
// having read the whole body. Without it net/http would read on (and wait
// for) up to 256 KiB of the body after the handler returns, with no
// deadline, before it could reuse the connection.
func closeUnread(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 {
		return
	}
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now()) // not supported on every transport
}

// admitBody runs once the request's headers are authenticated as far as
// they can be without the body: it refuses a declared body over
// MaxBodyBytes, reserves the body's size in the in-flight budget, and reads
// it within the body-read timeout. On success the caller must call release
// when it no longer holds the body.
func (s *Handler) admitBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), e *qldberr.Error) {
	if r.ContentLength > MaxBodyBytes {
		closeUnread(w, r)
		return nil, nil, qldberr.New(errTooLarge, "Request body is larger than %d bytes", MaxBodyBytes)
	}
	reserve := r.ContentLength
	if reserve < 0 { // chunked: the size is unknown until read
		reserve = MaxBodyBytes
	}
	if reserve == 0 {
		return nil, func() {}, nil
	}
	if !s.budget.acquire(reserve) {
		closeUnread(w, r)
		return nil, nil, qldberr.New(errThrottling, "Too many request bodies are being received at once; retry with backoff")
	}
	release = func() { s.budget.release(reserve) }
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.opts.BodyReadTimeout)) // not supported on every transport
	var err error
	if r.ContentLength > 0 {
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	}
	if err == nil {
		// Clear the deadline: net/http keeps reading the connection in the
		// background during the handler, and a passed deadline there would
		// cancel the request's context.
		_ = rc.SetReadDeadline(time.Time{})
		return body, release, nil
	}
	release()
	closeUnread(w, r)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, nil, qldberr.New(errTooLarge, "Request body is larger than %d bytes", MaxBodyBytes)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, nil, qldberr.New(errRequestTimeout, "The request body was not received within %s", s.opts.BodyReadTimeout)
	default:
		return nil, nil, qldberr.New(errSerialization, "Could not read the request body")
	}
}

// timedWriter gives every write of an answer ResponseWriteTimeout to reach
// the client: it sets the connection's write deadline when the status is
// written and again before each write (so a long streamed answer, such as
// a backup, has the timeout per write, not in all). A client that stops
// reading (a paused process, a stalled proxy) would otherwise hold its
// handler, its command slot and its share of the in-flight body budget
// for as long as its connection stays open: enough such clients would
// refuse everyone else.
type timedWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

// timeWrites wraps w in a timedWriter. It clears any write deadline an
// earlier request on the same connection left, so that what net/http itself
// writes before the answer (100 Continue) is not cut off by a stale one.
func (s *Handler) timeWrites(w http.ResponseWriter) http.ResponseWriter {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // not supported on every transport
	return &timedWriter{ResponseWriter: w, rc: rc, timeout: s.opts.ResponseWriteTimeout}
}

func (w *timedWriter) WriteHeader(status int) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	w.ResponseWriter.WriteHeader(status)
}

func (w *timedWriter) Write(b []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *timedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
