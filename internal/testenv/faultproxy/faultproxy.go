// Package faultproxy is a fault-injecting reverse proxy for tests, meant to
// sit between a Kinesis client and a local emulator (see kinesisemu), which
// never throttles and never fails on its own.
//
// The proxy listens on 127.0.0.1 and forwards to a loopback target. Its Mode
// can be changed at any time, from any goroutine:
//
//   - PassThrough forwards everything.
//   - ThrottleEvery(n) answers every nth PutRecord/PutRecords request with
//     HTTP 400 ProvisionedThroughputExceededException, without forwarding it.
//   - FailEntries and PartialFailure fail chosen entries of PutRecords
//     requests: those entries are removed before the request is forwarded
//     (they never reach the emulator), and per-entry
//     ProvisionedThroughputExceededException results are spliced back into
//     the response at their positions, with FailedRecordCount adjusted.
//   - FailAll(status, type, message) answers every request with that error.
//   - Delay(d) forwards after a delay; Disconnect closes the connection
//     without answering.
//
// Mode.ForOperations restricts a mode to some operations. Requests the mode
// does not apply to are forwarded unchanged. Stats counts what happened.
//
// Only the JSON protocol (application/x-amz-json-1.1, which the Go SDK
// uses) can be rewritten; partial failures let CBOR requests through
// untouched.
package faultproxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Kinesis operation names, as they appear after "Kinesis_20131202." in the
// X-Amz-Target header.
const (
	OpPutRecord  = "PutRecord"
	OpPutRecords = "PutRecords"
)

const (
	targetPrefix = "Kinesis_20131202."
	contentType  = "application/x-amz-json-1.1"
	// ErrThroughput is the error code of throttled requests and entries.
	ErrThroughput = "ProvisionedThroughputExceededException"
	// defaultAccount is used in messages when a request names no account.
	defaultAccount = "000000000000"
)

// Entry describes one record of a PutRecords request (or the record of a
// PutRecord request) to a PartialFailure predicate.
type Entry struct {
	// Request is the 1-based number of the request among those the mode
	// applied to since it was set.
	Request int
	// Index is the entry's position in the request's Records (0 for
	// PutRecord).
	Index int
	// PartitionKey, ExplicitHashKey and Data are the entry's fields.
	PartitionKey    string
	ExplicitHashKey string
	Data            []byte
}

type kind int

const (
	kindPass kind = iota
	kindThrottle
	kindPartial
	kindFailAll
	kindDelay
	kindDisconnect
)

// Mode is what the proxy does with requests. The zero Mode passes
// everything through. Build one with the functions below.
type Mode struct {
	kind    kind
	every   int
	pick    func(Entry) bool
	status  int
	errType string
	message string
	delay   time.Duration
	desc    string
	ops     []string // nil: every operation
}

// PassThrough forwards every request unchanged.
func PassThrough() Mode { return Mode{desc: "pass-through"} }

// ThrottleEvery answers every nth PutRecord or PutRecords request (the nth,
// 2nth, ... since the mode was set) with HTTP 400
// ProvisionedThroughputExceededException and does not forward it. n < 1
// means 1: every request.
func ThrottleEvery(n int) Mode {
	n = max(n, 1)
	return Mode{kind: kindThrottle, every: n, ops: []string{OpPutRecord, OpPutRecords},
		desc: fmt.Sprintf("throttle every %d", n)}
}

// PartialFailure fails the entries of PutRecords requests for which pick
// returns true: they are not forwarded, and their results in the response
// are ProvisionedThroughputExceededException. If pick selects every entry
// the request is not forwarded at all and the proxy answers by itself. For
// PutRecord, a selected record fails the whole request with HTTP 400.
// pick is called from the proxy's goroutines, one request at a time.
func PartialFailure(pick func(Entry) bool) Mode {
	return Mode{kind: kindPartial, pick: pick, ops: []string{OpPutRecord, OpPutRecords}, desc: "partial failure"}
}

// FailEntries is PartialFailure of the entries at the given positions of
// every PutRecords request (and of every PutRecord if 0 is among them).
func FailEntries(indexes ...int) Mode {
	idx := slices.Clone(indexes)
	m := PartialFailure(func(e Entry) bool { return slices.Contains(idx, e.Index) })
	m.desc = fmt.Sprintf("fail entries %v", idx)
	return m
}

// FailEveryNthEntry is PartialFailure of every nth entry (the nth, 2nth,
// ...), counting entries across requests from the call of
// FailEveryNthEntry: build a new Mode to start counting again.
func FailEveryNthEntry(n int) Mode {
	n = max(n, 1)
	var mu sync.Mutex
	seen := 0
	m := PartialFailure(func(Entry) bool {
		mu.Lock()
		defer mu.Unlock()
		seen++
		return seen%n == 0
	})
	m.desc = fmt.Sprintf("fail every %d entries", n)
	return m
}

// FailAll answers every request with the given HTTP status and a JSON body
// {"__type": errType, "message": message}, without forwarding it; e.g.
// FailAll(400, "ResourceNotFoundException", "Stream journal under account
// 000000000000 not found.").
func FailAll(status int, errType, message string) Mode {
	return Mode{kind: kindFailAll, status: status, errType: errType, message: message,
		desc: fmt.Sprintf("fail all with %d %s", status, errType)}
}

// Delay forwards every request after waiting d (or until the client gives
// up).
func Delay(d time.Duration) Mode {
	return Mode{kind: kindDelay, delay: d, desc: fmt.Sprintf("delay %v", d)}
}

// Disconnect closes the connection of every request without answering,
// as a network failure would.
func Disconnect() Mode { return Mode{kind: kindDisconnect, desc: "disconnect"} }

// ForOperations returns m restricted to the given operations (e.g.
// "PutRecords", "ListShards"); requests for other operations pass through.
func (m Mode) ForOperations(ops ...string) Mode {
	m.ops = slices.Clone(ops)
	m.desc += " for " + strings.Join(ops, ",")
	return m
}

// String describes the mode.
func (m Mode) String() string {
	if m.desc == "" {
		return "pass-through"
	}
	return m.desc
}

func (m Mode) appliesTo(op string) bool {
	return m.ops == nil || slices.Contains(m.ops, op)
}

// Stats counts the requests the proxy has seen since it started or since
// ResetStats.
type Stats struct {
	// Requests is the number of requests received.
	Requests int
	// Forwarded is the number of requests forwarded to the target
	// (possibly with some entries removed).
	Forwarded int
	// Failed is the number of requests answered with an injected error or
	// disconnected. Requests whose entries all failed count here too.
	Failed int
	// FailedEntries is the number of PutRecords entries failed by
	// PartialFailure.
	FailedEntries int
	// UpstreamErrors is the number of forwarded requests that got no answer
	// from the target (answered with HTTP 502 by the proxy).
	UpstreamErrors int
	// ByOperation is Requests per operation; the key is "" for requests
	// without an X-Amz-Target header.
	ByOperation map[string]int
}

// Proxy is a running fault-injecting reverse proxy.
type Proxy struct {
	// URL is the proxy's base URL, "http://127.0.0.1:PORT".
	URL string

	rp  *httputil.ReverseProxy
	srv *http.Server
	ln  net.Listener

	mu      sync.Mutex
	mode    Mode
	applied int // requests the mode applied to since SetMode
	stats   Stats
}

// New starts a proxy on a free 127.0.0.1 port in front of target, a URL
// such as "http://127.0.0.1:4567" whose host must be a loopback address or
// "localhost".
func New(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: target: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("faultproxy: target %q: want an http or https URL", target)
	}
	if h := u.Hostname(); h != "localhost" {
		if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("faultproxy: target %q is not a loopback address", target)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), ln: ln}
	p.stats.ByOperation = map[string]int{}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			// Let the transport negotiate (and undo) compression, so
			// that responses can be rewritten.
			pr.Out.Header.Del("Accept-Encoding")
		},
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.upstreamError,
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	p.srv = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Start is New for tests: it fails t if the proxy cannot start and closes
// the proxy in t.Cleanup.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() error {
	err := p.srv.Close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// SetMode changes what the proxy does with the requests it receives from
// now on, and restarts the mode's request count (used by ThrottleEvery and
// Entry.Request).
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	p.applied = 0
}

// Mode returns the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Stats returns a snapshot of the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.ByOperation = make(map[string]int, len(p.stats.ByOperation))
	for k, v := range p.stats.ByOperation {
		s.ByOperation[k] = v
	}
	return s
}

// ResetStats sets all counters to zero.
func (p *Proxy) ResetStats() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats = Stats{ByOperation: map[string]int{}}
}

func (p *Proxy) count(f func(*Stats)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(&p.stats)
}

// ServeHTTP applies the current mode to one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	p.mu.Lock()
	p.stats.Requests++
	p.stats.ByOperation[op]++
	m := p.mode
	applies := m.kind != kindPass && m.appliesTo(op)
	seq := 0
	if applies {
		p.applied++
		seq = p.applied
	}
	p.mu.Unlock()

	if !applies {
		p.forward(w, r)
		return
	}
	switch m.kind {
	case kindThrottle:
		if seq%m.every != 0 {
			p.forward(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		p.fail(w, http.StatusBadRequest, ErrThroughput, throughputMessage(body))
	case kindFailAll:
		_, _ = io.Copy(io.Discard, r.Body)
		p.fail(w, m.status, m.errType, m.message)
	case kindDelay:
		select {
		case <-time.After(m.delay):
			p.forward(w, r)
		case <-r.Context().Done():
		}
	case kindDisconnect:
		p.count(func(s *Stats) { s.Failed++ })
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			// Cannot happen with the proxy's own HTTP/1.1 server.
			http.Error(w, "faultproxy: cannot disconnect: "+err.Error(), http.StatusInternalServerError)
			return
		}
		_ = conn.Close()
	case kindPartial:
		p.partial(w, r, m, seq, op)
	default:
		p.forward(w, r)
	}
}

func (p *Proxy) forward(w http.ResponseWriter, r *http.Request) {
	p.count(func(s *Stats) { s.Forwarded++ })
	p.rp.ServeHTTP(w, r)
}

// fail writes an AWS JSON error response and counts the request as failed.
func (p *Proxy) fail(w http.ResponseWriter, status int, errType, message string) {
	p.count(func(s *Stats) { s.Failed++ })
	body, _ := json.Marshal(map[string]string{"__type": errType, "message": message})
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Amzn-RequestId", requestID())
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	s := hex.EncodeToString(b[:])
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
}

// upstreamError answers 502 when the target cannot be reached.
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	p.count(func(s *Stats) { s.UpstreamErrors++ })
	body, _ := json.Marshal(map[string]string{"__type": "InternalFailure", "message": "faultproxy: " + err.Error()})
	writeJSON(w, http.StatusBadGateway, body)
}

// streamRef is the part of a request that names the stream.
type streamRef struct {
	StreamName string
	StreamARN  string
}

// throughputMessage returns AWS's throttling message for the stream a
// request body names.
func throughputMessage(body []byte) string {
	var ref streamRef
	_ = json.Unmarshal(body, &ref)
	name, account := ref.StreamName, defaultAccount
	if ref.StreamARN != "" {
		// arn:aws:kinesis:REGION:ACCOUNT:stream/NAME
		if parts := strings.SplitN(ref.StreamARN, ":", 6); len(parts) == 6 {
			account = parts[4]
			if name == "" {
				name = strings.TrimPrefix(parts[5], "stream/")
			}
		}
	}
	return fmt.Sprintf("Rate exceeded for shard shardId-000000000000 in stream %s under account %s.", name, account)
}

// splice is what modifyResponse needs to put failed entries back into a
// PutRecords response.
type splice struct {
	failed  []bool // by original position
	message string
}

type spliceKey struct{}

// partial applies a PartialFailure mode to a PutRecord(s) request.
func (p *Proxy) partial(w http.ResponseWriter, r *http.Request, m Mode, seq int, op string) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json") {
		p.forward(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		p.fail(w, http.StatusBadRequest, "SerializationException", "faultproxy: reading request: "+err.Error())
		return
	}
	msg := throughputMessage(body)
	restore := func() *http.Request {
		r2 := r.Clone(r.Context())
		r2.Body = io.NopCloser(bytes.NewReader(body))
		r2.ContentLength = int64(len(body))
		return r2
	}
	type entry struct {
		PartitionKey    string
		ExplicitHashKey string
		Data            []byte
	}
	if op == OpPutRecord {
		var e entry
		if json.Unmarshal(body, &e) != nil ||
			!m.pick(Entry{Request: seq, PartitionKey: e.PartitionKey, ExplicitHashKey: e.ExplicitHashKey, Data: e.Data}) {
			p.forward(w, restore())
			return
		}
		p.count(func(s *Stats) { s.FailedEntries++ })
		p.fail(w, http.StatusBadRequest, ErrThroughput, msg)
		return
	}

	var req map[string]json.RawMessage
	var records []json.RawMessage
	if json.Unmarshal(body, &req) != nil || json.Unmarshal(req["Records"], &records) != nil || len(records) == 0 {
		// Let the target report whatever is wrong with the request.
		p.forward(w, restore())
		return
	}
	failed := make([]bool, len(records))
	var kept []json.RawMessage
	for i, raw := range records {
		var e entry
		_ = json.Unmarshal(raw, &e)
		failed[i] = m.pick(Entry{Request: seq, Index: i, PartitionKey: e.PartitionKey,
			ExplicitHashKey: e.ExplicitHashKey, Data: e.Data})
		if !failed[i] {
			kept = append(kept, raw)
		}
	}
	switch nFailed := len(records) - len(kept); {
	case nFailed == 0:
		p.forward(w, restore())
	case len(kept) == 0:
		// Nothing left to forward: answer as Kinesis would.
		out, _ := json.Marshal(map[string]any{
			"FailedRecordCount": nFailed,
			"Records":           mergeResults(failed, nil, msg),
		})
		p.count(func(s *Stats) { s.Failed++; s.FailedEntries += nFailed })
		writeJSON(w, http.StatusOK, out)
	default:
		keptJSON, _ := json.Marshal(kept)
		req["Records"] = keptJSON
		newBody, _ := json.Marshal(req)
		ctx := context.WithValue(r.Context(), spliceKey{}, &splice{failed: failed, message: msg})
		r2 := r.Clone(ctx)
		r2.Body = io.NopCloser(bytes.NewReader(newBody))
		r2.ContentLength = int64(len(newBody))
		r2.Header.Set("Content-Length", strconv.Itoa(len(newBody)))
		p.forward(w, r2)
	}
}

// mergeResults returns the per-entry results of a PutRecords response in
// original order: a throttling error where failed is true, and the next of
// upstream otherwise.
func mergeResults(failed []bool, upstream []json.RawMessage, message string) []json.RawMessage {
	errEntry, _ := json.Marshal(map[string]string{"ErrorCode": ErrThroughput, "ErrorMessage": message})
	out := make([]json.RawMessage, 0, len(failed))
	j := 0
	for _, f := range failed {
		if f {
			out = append(out, errEntry)
		} else {
			out = append(out, upstream[j])
			j++
		}
	}
	return out
}

// modifyResponse splices failed entries back into a PutRecords response
// whose request went through partial.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	sp, _ := resp.Request.Context().Value(spliceKey{}).(*splice)
	if sp == nil || resp.StatusCode != http.StatusOK {
		// Not rewritten, or the whole request failed: pass it on as is.
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var out map[string]json.RawMessage
	var results []json.RawMessage
	var upstreamFailed int
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("faultproxy: PutRecords response: %w", err)
	}
	if err := json.Unmarshal(out["Records"], &results); err != nil {
		return fmt.Errorf("faultproxy: PutRecords response Records: %w", err)
	}
	if raw, ok := out["FailedRecordCount"]; ok {
		if err := json.Unmarshal(raw, &upstreamFailed); err != nil {
			return fmt.Errorf("faultproxy: PutRecords response FailedRecordCount: %w", err)
		}
	}
	nFailed := 0
	for _, f := range sp.failed {
		if f {
			nFailed++
		}
	}
	if len(results) != len(sp.failed)-nFailed {
		return fmt.Errorf("faultproxy: PutRecords response has %d results for %d forwarded entries",
			len(results), len(sp.failed)-nFailed)
	}
	out["Records"], _ = json.Marshal(mergeResults(sp.failed, results, sp.message))
	out["FailedRecordCount"], _ = json.Marshal(upstreamFailed + nFailed)
	newBody, _ := json.Marshal(out)
	p.count(func(s *Stats) { s.FailedEntries += nFailed })

	resp.Body = io.NopCloser(bytes.NewReader(newBody))
	resp.ContentLength = int64(len(newBody))
	resp.Header.Set("Content-Length", strconv.Itoa(len(newBody)))
	resp.Header.Del("Content-Encoding")
	if resp.Header.Get("X-Amz-Crc32") != "" {
		resp.Header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(newBody)), 10))
	}
	return nil
}
