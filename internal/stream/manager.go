// Package stream implements QLDB journal streams to Amazon Kinesis:
// StreamJournalToKinesis and its Describe, List and Cancel companions, and
// one worker per stream that turns committed journal blocks into QLDB's
// CONTROL, BLOCK_SUMMARY and REVISION_DETAILS records, aggregates them per
// destination shard (KPL format), puts them with PutRecords and durably
// checkpoints what Kinesis acknowledged (off the delivery path: see
// pipeline.go). Delivery is at least once: after a crash a stream resumes
// from its checkpoint, repeating at most what was not yet checkpointed and
// never skipping a block.
package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"sync"
	"time"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/pagetoken"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/qldbid"
	"github.com/strand-db/strand/internal/store"
	"github.com/strand-db/strand/internal/stream/kpl"
	"github.com/strand-db/strand/internal/taskset"
)

// Stream statuses, as QLDB spells them (CANCELED with one L).
const (
	StatusActive    = "ACTIVE"
	StatusImpaired  = "IMPAIRED"
	StatusCompleted = "COMPLETED"
	StatusCanceled  = "CANCELED"
	StatusFailed    = "FAILED"
)

func terminal(status string) bool {
	return status == StatusCompleted || status == StatusCanceled || status == StatusFailed
}

// Journals opens ledgers' journals by ledger name (*txn.Engine implements
// it: it opens each ledger's journal.Log).
type Journals interface {
	// Journal returns the read side of a ledger's journal, which a
	// stream tails.
	Journal(ledgerName string) (journal.Reader, error)
}

// Options configure a Manager. Zero values take the defaults noted.
type Options struct {
	Region             string
	AccountID          string
	MaxActivePerLedger int           // default 5
	Retention          time.Duration // how long terminal streams stay listed; default 7 days
	ImpairedTimeout    time.Duration // IMPAIRED this long becomes FAILED; default 1 hour
	Aggregation        kpl.Config    // aggregate limits; zero: KPL defaults
	BufferDelay        time.Duration // wait this long for more blocks before a small put; default 0
	RetryBase          time.Duration // first retry backoff; default 100 ms
	RetryMax           time.Duration // backoff cap; default 5 s
	Clients            ClientFactory
	Journals           Journals
	Ledgers            *ledger.Catalog
	Store              store.Store
	Logger             *slog.Logger
	Metrics            *Metrics
	// Ownership, when set, says which ledgers' streams this node delivers
	// on a store shared by several nodes (package cluster implements it):
	// a ledger's streams run only while this node holds the ledger (Adopt
	// and Release follow the lease), and every write of a stream's
	// definition or checkpoint expects the ledger's fencing token. Nil:
	// this node delivers every stream of its store.
	Ownership Ownership
	Now       func() time.Time
}

// Ownership tells which ledgers this node holds on a shared store.
type Ownership interface {
	// Fence returns what every write of this node for the ledger must
	// expect (store.Batch.Expect(key, value)), and false when this node
	// does not hold the ledger.
	Fence(ledgerID string) (key, value []byte, ok bool)
}

// errNotHeld is the error of a write for a ledger this node does not hold.
var errNotHeld = errors.New("stream: this node does not hold the ledger")

// fence adds the ownership expectation of ledgerID to b (nothing without
// Ownership), or fails with errNotHeld.
func (m *Manager) fence(b store.Batch, ledgerID string) error {
	if m.opts.Ownership == nil {
		return nil
	}
	key, value, ok := m.opts.Ownership.Fence(ledgerID)
	if !ok {
		return errNotHeld
	}
	return b.Expect(key, value)
}

// owns reports whether this node delivers the streams of ledgerID.
func (m *Manager) owns(ledgerID string) bool {
	if m.opts.Ownership == nil {
		return true
	}
	_, _, ok := m.opts.Ownership.Fence(ledgerID)
	return ok
}

// Defaults of the Options: the values a zero field takes, and
// config.Default's values for the flags that set them (each default is
// written here once).
const (
	DefaultMaxActivePerLedger = 5
	DefaultRetention          = 7 * 24 * time.Hour
	DefaultImpairedTimeout    = time.Hour
	DefaultRetryBase          = 100 * time.Millisecond
	DefaultRetryMax           = 5 * time.Second
)

func (o *Options) setDefaults() {
	if o.MaxActivePerLedger == 0 {
		o.MaxActivePerLedger = DefaultMaxActivePerLedger
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.ImpairedTimeout == 0 {
		o.ImpairedTimeout = DefaultImpairedTimeout
	}
	if o.RetryBase == 0 {
		o.RetryBase = DefaultRetryBase
	}
	if o.RetryMax == 0 {
		o.RetryMax = DefaultRetryMax
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Definition is a stream as stored and described.
type Definition struct {
	ID            string            `json:"id"`
	LedgerID      string            `json:"ledgerId"`
	LedgerName    string            `json:"ledgerName"`
	StreamName    string            `json:"streamName"`
	RoleARN       string            `json:"roleArn"`
	Destination   string            `json:"destination"` // Kinesis stream ARN
	Aggregation   bool              `json:"aggregation"`
	Start         time.Time         `json:"start"` // clamped to the ledger's creation time
	End           *time.Time        `json:"end,omitempty"`
	Created       time.Time         `json:"created"`
	Status        string            `json:"status"`
	ErrorCause    string            `json:"errorCause,omitempty"`
	ImpairedSince *time.Time        `json:"impairedSince,omitempty"`
	EndedAt       *time.Time        `json:"endedAt,omitempty"`
	Tags          map[string]string `json:"tags,omitempty"`
}

// ARN is the stream's QLDB ARN.
func (d *Definition) ARN(region, account string) string {
	return ledger.StreamARN(region, account, d.LedgerName, d.ID)
}

// checkpoint is the durable delivery position of a stream: every record of
// blocks before Next has been acknowledged by Kinesis.
type checkpoint struct {
	Positioned bool   `json:"positioned"` // Next has been set from the start time
	Next       uint64 `json:"next"`
	Created    bool   `json:"created"` // the CREATED control record was acknowledged
}

func defKey(id string) []byte { return []byte("sd/" + id) }
func cpKey(id string) []byte  { return []byte("sc/" + id) }

// Manager owns every journal stream.
type Manager struct {
	opts Options

	// mu guards streams and every definition in it. It is never held
	// across a store write: see persist for how writes stay ordered.
	mu      sync.Mutex
	streams map[string]*running // by stream id
	// wmu orders the writes of stream definitions (and their removal) so
	// that the last write of a definition is always its newest state.
	wmu sync.Mutex
	// workers runs a worker per live stream this node delivers (by stream
	// id) and the expiry task.
	workers taskset.Set
}

// expiryTask is the id in Manager.workers of the task that forgets expired
// streams (stream ids are longer).
const expiryTask = "expiry"

// running is a stream definition and its worker, if one runs.
type running struct {
	def Definition
	// raw is the definition as stored, as this manager last loaded or
	// wrote it (nil: not stored yet). Every write of the stream's keys
	// expects it (see persist and worker.saveCheckpoint). Guarded by mu,
	// changed only under wmu.
	raw []byte
}

// Open loads every stream and starts the workers of live ones.
func Open(opts Options) (*Manager, error) {
	opts.setDefaults()
	m := &Manager{opts: opts, streams: map[string]*running{}}
	defs, err := m.load("")
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	for _, sd := range defs {
		d := sd.def
		r := &running{def: d, raw: sd.raw}
		m.streams[d.ID] = r
		if !terminal(r.def.Status) && m.owns(d.LedgerID) {
			m.startLocked(r)
		}
		m.opts.Metrics.setStatus(r.def.LedgerName, r.def.ID, r.def.Status)
	}
	m.mu.Unlock()
	m.workers.Every(expiryTask, time.Minute, func() { m.expire(m.opts.Now()) })
	return m, nil
}

// stored is a stream definition and its stored bytes.
type stored struct {
	def Definition
	raw []byte
}

// load reads the stored stream definitions, of every ledger or of one.
func (m *Manager) load(ledgerID string) ([]stored, error) {
	var defs []stored
	var decodeErr error
	err := m.opts.Store.Scan([]byte("sd/"), store.PrefixEnd([]byte("sd/")), func(_, v []byte) bool {
		var d Definition
		if decodeErr = json.Unmarshal(v, &d); decodeErr != nil {
			return false
		}
		if ledgerID == "" || d.LedgerID == ledgerID {
			defs = append(defs, stored{def: d, raw: append([]byte(nil), v...)})
		}
		return true
	})
	if err == nil {
		err = decodeErr
	}
	if err != nil {
		return nil, fmt.Errorf("stream: load: %w", err)
	}
	return defs, nil
}

// Adopt starts delivering the streams of a ledger this node has just taken
// (on a shared store): their definitions are read again from the store,
// since the previous owner may have changed them, and a worker starts for
// each live one, resuming from its checkpoint.
func (m *Manager) Adopt(ledgerID string) error {
	m.Release(ledgerID)
	defs, err := m.load(ledgerID)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, r := range m.streams {
		if r.def.LedgerID == ledgerID {
			delete(m.streams, id)
		}
	}
	for _, sd := range defs {
		d := sd.def
		r := &running{def: d, raw: sd.raw}
		m.streams[d.ID] = r
		m.opts.Metrics.setStatus(d.LedgerName, d.ID, d.Status)
		if !terminal(d.Status) {
			m.startLocked(r)
		}
	}
	return nil
}

// Release stops the workers of a ledger this node no longer holds, and
// waits for them. Their checkpoints stay for the next owner.
func (m *Manager) Release(ledgerID string) { m.workers.StopLedger(ledgerID) }

// Close stops every worker; their checkpoints stay for the next start.
func (m *Manager) Close() { m.workers.StopAll() }

// startLocked starts the worker of r, from its definition as it is now.
func (m *Manager) startLocked(r *running) {
	w := &worker{m: m, id: r.def.ID, def: r.def}
	m.workers.Start(r.def.ID, r.def.LedgerID, w.run)
}

// setStatus records a status change made by a worker and logs it; a
// failed write is logged (the worker's next change or checkpoint writes
// the definition again). A terminal status is never left.
func (m *Manager) setStatus(id, status, cause string) {
	if !m.markStatus(id, status, cause) {
		return
	}
	if err := m.persist(id); err != nil {
		m.opts.Logger.Error("stream status not persisted", "stream_id", id, "err", err)
	}
}

// markStatus changes a stream's status in memory, logs the change and
// reports whether there was one to write. A terminal status is never left.
func (m *Manager) markStatus(id, status, cause string) bool {
	m.mu.Lock()
	r, ok := m.streams[id]
	if !ok || terminal(r.def.Status) || (r.def.Status == status && r.def.ErrorCause == cause) {
		m.mu.Unlock()
		return false
	}
	now := m.opts.Now().UTC()
	from := r.def.Status
	r.def.Status, r.def.ErrorCause = status, cause
	switch {
	case status == StatusImpaired && r.def.ImpairedSince == nil:
		r.def.ImpairedSince = &now
	case status == StatusActive:
		r.def.ImpairedSince = nil
	}
	if terminal(status) {
		r.def.EndedAt = &now
	}
	m.opts.Metrics.setStatus(r.def.LedgerName, id, status)
	m.opts.Logger.Info("journal stream status changed", "ledger", r.def.LedgerName, "stream_id", id,
		"stream_name", r.def.StreamName, "from", from, "to", status, "error_cause", cause)
	m.mu.Unlock()
	return true
}

// definition returns the current definition of a stream.
func (m *Manager) definition(id string) (Definition, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.streams[id]
	if !ok {
		return Definition{}, false
	}
	return r.def, true
}

// CreateInput is a StreamJournalToKinesis request.
type CreateInput struct {
	LedgerName  string
	RoleARN     string
	StreamName  string
	Start       *time.Time
	End         *time.Time
	StreamARN   string // Kinesis destination
	Aggregation *bool  // nil: true
	Tags        map[string]*string
}

// Create validates a request, checks the destination with Kinesis as QLDB
// did, and starts the stream. It returns the new stream id.
func (m *Manager) Create(ctx context.Context, in CreateInput) (string, error) {
	if err := ledger.ValidateName("LedgerName", in.LedgerName); err != nil {
		return "", err
	}
	l, err := m.opts.Ledgers.Active(in.LedgerName)
	if err != nil {
		return "", err
	}
	if !ValidRoleARN(in.RoleARN) {
		return "", qldberr.Invalid("RoleArn", "RoleArn %q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", in.RoleARN)
	}
	if in.StreamARN == "" {
		return "", qldberr.Invalid("KinesisConfiguration", "KinesisConfiguration.StreamArn is required")
	}
	dest, err := ParseDestination(in.StreamARN)
	if err != nil {
		return "", qldberr.Invalid("KinesisConfiguration", "KinesisConfiguration.StreamArn: %v", err)
	}
	if err := ledger.ValidateName("StreamName", in.StreamName); err != nil {
		return "", err
	}
	tags, err := ledger.NewTags(in.Tags)
	if err != nil {
		return "", err
	}
	now := m.opts.Now().UTC()
	if in.Start == nil {
		return "", qldberr.Invalid("InclusiveStartTime", "InclusiveStartTime is required")
	}
	start := in.Start.UTC()
	if start.After(now) {
		return "", qldberr.Invalid("InclusiveStartTime", "Start date can't be in the future.")
	}
	var end *time.Time
	if in.End != nil {
		e := in.End.UTC()
		if !start.Before(e) {
			return "", qldberr.Invalid("ExclusiveEndTime", "Start date must not be later than the end date.")
		}
		end = &e
	}
	if start.Before(l.CreationTime) {
		start = l.CreationTime
	}
	aggregation := in.Aggregation == nil || *in.Aggregation

	m.mu.Lock()
	active := 0
	for _, r := range m.streams {
		if r.def.LedgerID != l.ID || terminal(r.def.Status) {
			continue
		}
		active++
		if r.def.StreamName == in.StreamName {
			m.mu.Unlock()
			return "", qldberr.Invalid("StreamName", "Ledger %s already has an active journal stream named %s", in.LedgerName, in.StreamName)
		}
	}
	m.mu.Unlock()
	if active >= m.opts.MaxActivePerLedger {
		return "", &qldberr.Error{Type: qldberr.LimitExceeded, ResourceType: "STREAM",
			Message: fmt.Sprintf("Ledger %s already has the maximum of %d active journal streams", in.LedgerName, m.opts.MaxActivePerLedger)}
	}

	client, err := m.opts.Clients.Client(ctx, dest.Region, in.RoleARN)
	if err != nil {
		return "", qldberr.Invalid("RoleArn", "Unexpected response from Kinesis Data Streams while validating Kinesis configuration. Response from Kinesis: %v", err)
	}
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := listShards(vctx, client, dest); err != nil {
		return "", qldberr.Invalid("KinesisConfiguration", "QLDB encountered an error validating Kinesis Data Streams: Response from Kinesis: %s", describeError(err))
	}

	d := Definition{
		ID: qldbid.New(), LedgerID: l.ID, LedgerName: l.Name, StreamName: in.StreamName, RoleARN: in.RoleARN,
		Destination: dest.ARN, Aggregation: aggregation, Start: start, End: end, Created: now, Status: StatusActive,
		Tags: tags,
	}
	m.mu.Lock()
	// Re-check under the lock: a concurrent Create may have won the name or the last slot.
	active = 0
	for _, r := range m.streams {
		if r.def.LedgerID == l.ID && !terminal(r.def.Status) {
			active++
			if r.def.StreamName == in.StreamName {
				m.mu.Unlock()
				return "", qldberr.Invalid("StreamName", "Ledger %s already has an active journal stream named %s", in.LedgerName, in.StreamName)
			}
		}
	}
	if active >= m.opts.MaxActivePerLedger {
		m.mu.Unlock()
		return "", &qldberr.Error{Type: qldberr.LimitExceeded, ResourceType: "STREAM",
			Message: fmt.Sprintf("Ledger %s already has the maximum of %d active journal streams", in.LedgerName, m.opts.MaxActivePerLedger)}
	}
	// The entry holds the name and the slot while the definition is written
	// outside the lock; the worker starts only once it is durable.
	r := &running{def: d}
	m.streams[d.ID] = r
	m.mu.Unlock()
	if err := m.persist(d.ID); err != nil {
		m.mu.Lock()
		delete(m.streams, d.ID)
		m.mu.Unlock()
		return "", m.requestError(l.ID, l.Name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.streams[d.ID] != r { // its ledger was deleted meanwhile
		return "", qldberr.NotFound("LEDGER", in.LedgerName, "Ledger %s does not exist", in.LedgerName)
	}
	m.opts.Metrics.setStatus(d.LedgerName, d.ID, d.Status)
	m.opts.Logger.Info("journal stream created", "ledger", d.LedgerName, "stream_id", d.ID, "stream_name", d.StreamName,
		"destination", d.Destination, "aggregation", d.Aggregation, "status", d.Status)
	m.startLocked(r)
	return d.ID, nil
}

// visible reports whether a stream is still listed: terminal streams
// expire after the retention period.
func (m *Manager) visible(d *Definition, now time.Time) bool {
	return !terminal(d.Status) || d.EndedAt == nil || now.Sub(*d.EndedAt) < m.opts.Retention
}

// Describe returns one stream of a ledger.
func (m *Manager) Describe(ledgerName, id string) (Definition, error) {
	l, err := m.ledgerFor(ledgerName)
	if err != nil {
		return Definition{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.streams[id]
	if !ok || r.def.LedgerID != l.ID || !m.visible(&r.def, m.opts.Now()) {
		return Definition{}, qldberr.NotFound("STREAM", id, "No journal stream %s exists for ledger %s", id, ledgerName)
	}
	return r.def, nil
}

func (m *Manager) ledgerFor(name string) (ledger.Entry, error) {
	if err := ledger.ValidateName("LedgerName", name); err != nil {
		return ledger.Entry{}, err
	}
	return m.opts.Ledgers.Describe(name)
}

// List returns a ledger's streams, oldest first, a page at a time.
func (m *Manager) List(ledgerName string, max int, token string) ([]Definition, string, error) {
	l, err := m.ledgerFor(ledgerName)
	if err != nil {
		return nil, "", err
	}
	if max == 0 {
		max = 100
	}
	if max < 1 || max > 100 {
		return nil, "", qldberr.Invalid("MaxResults", "MaxResults must be between 1 and 100, got %d", max)
	}
	after := ""
	if token != "" {
		k, err := pagetoken.Decode("streams/"+ledgerName, token)
		if err != nil {
			return nil, "", qldberr.Invalid("NextToken", "NextToken is not a token this server issued for ledger %s", ledgerName)
		}
		after = k
	}
	now := m.opts.Now()
	m.mu.Lock()
	var all []Definition
	for _, r := range m.streams {
		if r.def.LedgerID == l.ID && m.visible(&r.def, now) {
			all = append(all, r.def)
		}
	}
	m.mu.Unlock()
	sortKey := func(d Definition) string { return d.Created.Format(time.RFC3339Nano) + "|" + d.ID }
	sort.Slice(all, func(i, j int) bool { return sortKey(all[i]) < sortKey(all[j]) })
	var out []Definition
	for _, d := range all {
		if after != "" && sortKey(d) <= after {
			continue
		}
		out = append(out, d)
	}
	next := ""
	if len(out) > max {
		out = out[:max]
		next = pagetoken.Encode("streams/"+ledgerName, sortKey(out[max-1]))
	}
	return out, next, nil
}

// Cancel stops an ACTIVE or IMPAIRED stream; it becomes CANCELED and no
// control record is written.
func (m *Manager) Cancel(ledgerName, id string) error {
	d, err := m.Describe(ledgerName, id)
	if err != nil {
		return err
	}
	if d.Status != StatusActive && d.Status != StatusImpaired {
		return qldberr.Precondition("STREAM", id, "Journal stream %s is %s; only an ACTIVE or IMPAIRED stream can be canceled", id, d.Status)
	}
	m.mu.Lock()
	_, ok := m.streams[id]
	m.mu.Unlock()
	if !ok { // removed since Describe: its ledger was deleted
		return qldberr.NotFound("STREAM", id, "No journal stream %s exists for ledger %s", id, ledgerName)
	}
	m.workers.Stop(id)
	return m.requestError(d.LedgerID, ledgerName, m.cancelDurably(id))
}

// DropLedger stops and forgets every stream of a deleted ledger: those this
// manager knows and, on a shared store, those other nodes created.
func (m *Manager) DropLedger(ledgerID string) {
	m.mu.Lock()
	var ids []string
	seen := map[string]bool{}
	for id, r := range m.streams {
		if r.def.LedgerID == ledgerID {
			ids = append(ids, id)
			seen[id] = true
			delete(m.streams, id)
		}
	}
	m.mu.Unlock()
	m.workers.StopLedger(ledgerID)
	if m.opts.Ownership != nil {
		stored, err := m.load(ledgerID)
		if err != nil {
			m.opts.Logger.Error("listing a deleted ledger's streams failed", "err", err)
		}
		for _, sd := range stored {
			if !seen[sd.def.ID] {
				ids = append(ids, sd.def.ID)
			}
		}
	}
	if err := m.forget(ids); err != nil {
		m.opts.Logger.Error("removing a deleted ledger's streams failed", "err", err)
	}
}

// expire removes the terminal streams that are no longer visible at now.
func (m *Manager) expire(now time.Time) {
	m.mu.Lock()
	var ids []string
	for id, r := range m.streams {
		if !m.visible(&r.def, now) && m.owns(r.def.LedgerID) {
			delete(m.streams, id)
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	if err := m.forget(ids); err != nil {
		m.opts.Logger.Error("expiring terminal streams failed", "err", err)
	}
}

// Tag, Untag and Tags serve TagResource and friends for stream ARNs.
func (m *Manager) lookupARN(a ledger.ARN, raw string) (string, error) {
	if a.Region != m.opts.Region || a.AccountID != m.opts.AccountID {
		return "", qldberr.NotFound("STREAM", raw, "Resource %s does not exist", raw)
	}
	if _, err := m.Describe(a.Ledger, a.StreamID); err != nil {
		return "", qldberr.NotFound("STREAM", raw, "Resource %s does not exist", raw)
	}
	return a.StreamID, nil
}

// Tag adds or replaces tags on the stream named by a parsed stream ARN.
func (m *Manager) Tag(a ledger.ARN, raw string, tags map[string]*string) error {
	add, err := ledger.TagsToAdd(tags)
	if err != nil {
		return err
	}
	return m.updateTags(a, raw, func(cur map[string]string) (map[string]string, error) {
		return ledger.WithTags(cur, add)
	})
}

// Untag removes tag keys from the stream named by a parsed stream ARN.
func (m *Manager) Untag(a ledger.ARN, raw string, keys []string) error {
	if err := ledger.ValidateTagKeys(keys); err != nil {
		return err
	}
	return m.updateTags(a, raw, func(cur map[string]string) (map[string]string, error) {
		return ledger.WithoutTags(cur, keys), nil
	})
}

// updateTags replaces a stream's tags with what change returns for the
// current ones and stores the result; when change fails nothing is stored.
// change must not modify the map it is given (readers may hold it).
func (m *Manager) updateTags(a ledger.ARN, raw string, change func(map[string]string) (map[string]string, error)) error {
	id, err := m.lookupARN(a, raw)
	if err != nil {
		return err
	}
	m.mu.Lock()
	r, ok := m.streams[id]
	if !ok { // expired or dropped since the lookup
		m.mu.Unlock()
		return qldberr.NotFound("STREAM", raw, "Resource %s does not exist", raw)
	}
	tags, err := change(r.def.Tags)
	if err != nil {
		m.mu.Unlock()
		return err
	}
	prev := r.def.Tags
	r.def.Tags = tags
	ledgerID, ledgerName := r.def.LedgerID, r.def.LedgerName
	m.mu.Unlock()
	if err := m.persist(id); err != nil {
		// Not written: the change is not made (a retry makes it again).
		m.mu.Lock()
		if m.streams[id] == r && maps.Equal(r.def.Tags, tags) {
			r.def.Tags = prev
		}
		m.mu.Unlock()
		return m.requestError(ledgerID, ledgerName, err)
	}
	return nil
}

// Tags returns the tags of the stream named by a parsed stream ARN.
func (m *Manager) Tags(a ledger.ARN, raw string) (map[string]string, error) {
	id, err := m.lookupARN(a, raw)
	if err != nil {
		return nil, err
	}
	d, _ := m.definition(id)
	return d.Tags, nil
}

// Delivered returns how many blocks of the journal a stream has delivered
// and durably checkpointed (the first block not yet acknowledged).
func (m *Manager) Delivered(id string) (uint64, bool) {
	raw, ok, err := m.opts.Store.Get(cpKey(id))
	if err != nil || !ok {
		return 0, false
	}
	var cp checkpoint
	if json.Unmarshal(raw, &cp) != nil {
		return 0, false
	}
	return cp.Next, true
}
