// Package export implements QLDB journal exports to Amazon S3:
// ExportJournalToS3 and its Describe and List companions, and one background
// job per export that writes the objects QLDB wrote, in QLDB's order: the
// started manifest (when the request is accepted), data objects holding
// consecutive blocks named <strandId>.<first>-<last>.<ext>, and the
// completed manifest listing every data object's full key, last. A job's
// progress is checkpointed in the store after every data object, so that
// after a restart it resumes where it stopped (rewriting at most the object
// it was writing) and completes.
//
// It also reads exports back (Source, ReadExport, Verify): what `strand
// import` uses to bring a QLDB export home with its hashes intact.
package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/pagetoken"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/qldbid"
	"github.com/strand-db/strand/internal/store"
	"github.com/strand-db/strand/internal/taskset"
)

// Export statuses, as QLDB spells them (CANCELLED with two Ls, unlike
// journal streams).
const (
	StatusInProgress = "IN_PROGRESS"
	StatusCompleted  = "COMPLETED"
	StatusCancelled  = "CANCELLED"
)

// Output formats.
const (
	FormatIonText   = "ION_TEXT"
	FormatIonBinary = "ION_BINARY"
	FormatJSON      = "JSON"
)

// Object encryption types.
const (
	EncryptionNone  = "NO_ENCRYPTION"
	EncryptionSSES3 = "SSE_S3"
	EncryptionKMS   = "SSE_KMS"
)

// Defaults of the Options.
const (
	DefaultMaxActivePerLedger = 2
	DefaultRetention          = 7 * 24 * time.Hour
	DefaultObjectBlocks       = 1000
	DefaultObjectBytes        = 16 << 20
)

// Journals opens ledgers' journals by ledger name (*txn.Engine implements it).
type Journals interface {
	Journal(ledgerName string) (journal.Reader, error)
}

// StrandIDs names the strand of a ledger's journal (*txn.Engine implements
// it through the ledger's engine).
type StrandIDs interface {
	StrandID(ledgerName string) (string, error)
}

// Ownership tells which ledgers this node holds on a shared store (see
// stream.Ownership): an export job runs only on the node holding its ledger.
type Ownership interface {
	Fence(ledgerID string) (key, value []byte, ok bool)
}

// Options configure a Manager. Zero values take the defaults noted.
type Options struct {
	Region             string
	MaxActivePerLedger int           // default 2, QLDB's quota
	Retention          time.Duration // finished jobs stay listed this long; default 7 days
	ObjectBlocks       int           // most blocks per data object; default 1000
	ObjectBytes        int           // a data object is closed once it holds this many bytes; default 16 MiB
	RetryBase          time.Duration // first retry backoff of a failed S3 put; default 200 ms
	RetryMax           time.Duration // backoff cap; default 30 s
	Clients            ClientFactory
	Journals           Journals
	Strands            StrandIDs
	Ledgers            *ledger.Catalog
	Store              store.Store
	Logger             *slog.Logger
	Ownership          Ownership
	Now                func() time.Time
}

func (o *Options) setDefaults() {
	if o.MaxActivePerLedger == 0 {
		o.MaxActivePerLedger = DefaultMaxActivePerLedger
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.ObjectBlocks == 0 {
		o.ObjectBlocks = DefaultObjectBlocks
	}
	if o.ObjectBytes == 0 {
		o.ObjectBytes = DefaultObjectBytes
	}
	if o.RetryBase == 0 {
		o.RetryBase = 200 * time.Millisecond
	}
	if o.RetryMax == 0 {
		o.RetryMax = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Job is an export as stored and described.
type Job struct {
	ID         string `json:"id"`
	LedgerID   string `json:"ledgerId"`
	LedgerName string `json:"ledgerName"`
	StrandID   string `json:"strandId"`
	RoleARN    string `json:"roleArn"`
	Bucket     string `json:"bucket"`
	Prefix     string `json:"prefix"`
	Encryption string `json:"encryption"`
	KmsKeyARN  string `json:"kmsKeyArn,omitempty"`
	// Format is the output format; FormatGiven records whether the request
	// named it (the started manifest lists outputFormat only then).
	Format      string     `json:"format"`
	FormatGiven bool       `json:"formatGiven"`
	Start       time.Time  `json:"start"` // as requested
	End         time.Time  `json:"end"`
	From        time.Time  `json:"from"` // Start clamped to the ledger's creation
	Created     time.Time  `json:"created"`
	Status      string     `json:"status"`
	Cause       string     `json:"cause,omitempty"` // why a job was CANCELLED (logged, not on the wire)
	EndedAt     *time.Time `json:"endedAt,omitempty"`
}

// checkpoint is the durable progress of a job: blocks before Next are in
// the data objects listed in Keys.
type checkpoint struct {
	Positioned bool     `json:"positioned"`
	Next       uint64   `json:"next"`
	Keys       []string `json:"keys"`
	Blocks     uint64   `json:"blocks"`
}

func jobKey(id string) []byte { return []byte("ed/" + id) }
func cpKey(id string) []byte  { return []byte("ec/" + id) }

// Manager owns every journal export of a store.
type Manager struct {
	opts Options

	mu   sync.Mutex
	jobs map[string]*running
	wmu  sync.Mutex // orders writes of job definitions
	// workers runs a worker per IN_PROGRESS job this node runs (by job id)
	// and the expiry task.
	workers taskset.Set
}

// expiryTask is the id in Manager.workers of the task that forgets expired
// jobs (job ids are longer).
const expiryTask = "expiry"

type running struct {
	job Job
	// progress, for Progress: blocks written and the total to write.
	done, total uint64
}

// Open loads every export and resumes the jobs still IN_PROGRESS.
func Open(opts Options) (*Manager, error) {
	opts.setDefaults()
	m := &Manager{opts: opts, jobs: map[string]*running{}}
	jobs, err := m.load("")
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	for _, j := range jobs {
		r := &running{job: j}
		m.jobs[j.ID] = r
		if j.Status == StatusInProgress && m.owns(j.LedgerID) {
			m.startLocked(r)
		}
	}
	m.mu.Unlock()
	m.workers.Every(expiryTask, time.Minute, func() { m.expire(m.opts.Now()) })
	return m, nil
}

func (m *Manager) owns(ledgerID string) bool {
	if m.opts.Ownership == nil {
		return true
	}
	_, _, ok := m.opts.Ownership.Fence(ledgerID)
	return ok
}

// fence adds the ownership expectation of ledgerID to b.
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

var errNotHeld = errors.New("export: this node does not hold the ledger")

func (m *Manager) load(ledgerID string) ([]Job, error) {
	var jobs []Job
	var decodeErr error
	err := m.opts.Store.Scan([]byte("ed/"), store.PrefixEnd([]byte("ed/")), func(_, v []byte) bool {
		var j Job
		if decodeErr = json.Unmarshal(v, &j); decodeErr != nil {
			return false
		}
		if ledgerID == "" || j.LedgerID == ledgerID {
			jobs = append(jobs, j)
		}
		return true
	})
	if err == nil {
		err = decodeErr
	}
	if err != nil {
		return nil, fmt.Errorf("export: load: %w", err)
	}
	return jobs, nil
}

// Adopt resumes the jobs of a ledger this node has just taken (shared store).
func (m *Manager) Adopt(ledgerID string) error {
	m.Release(ledgerID)
	jobs, err := m.load(ledgerID)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, j := range jobs {
		r := &running{job: j}
		m.jobs[j.ID] = r
		if j.Status == StatusInProgress {
			m.startLocked(r)
		}
	}
	return nil
}

// Release stops the jobs of a ledger this node no longer holds; their
// checkpoints stay for the next owner.
func (m *Manager) Release(ledgerID string) { m.workers.StopLedger(ledgerID) }

// Close stops every job; each resumes from its checkpoint on the next Open.
func (m *Manager) Close() { m.workers.StopAll() }

// startLocked starts the worker of r, from its job as it is now.
func (m *Manager) startLocked(r *running) {
	w := &worker{m: m, job: r.job}
	m.workers.Start(r.job.ID, r.job.LedgerID, w.run)
}

// persist durably writes the current definition of job id (see
// stream.Manager.persist for the ordering argument).
func (m *Manager) persist(id string) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	m.mu.Lock()
	r, ok := m.jobs[id]
	var b []byte
	var err error
	var ledgerID string
	if ok {
		b, err = json.Marshal(&r.job)
		ledgerID = r.job.LedgerID
	}
	m.mu.Unlock()
	if !ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	batch := m.opts.Store.NewBatch()
	defer batch.Close()
	if err := m.fence(batch, ledgerID); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := batch.Set(jobKey(id), b); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return m.opts.Store.Apply(batch)
}

func (m *Manager) forget(ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	batch := m.opts.Store.NewBatch()
	defer batch.Close()
	for _, id := range ids {
		if err := batch.Delete(jobKey(id)); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if err := batch.Delete(cpKey(id)); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	return m.opts.Store.Apply(batch)
}

// finish records a job's end (COMPLETED or CANCELLED); a finished job never
// changes again.
func (m *Manager) finish(id, status, cause string) {
	m.mu.Lock()
	r, ok := m.jobs[id]
	if !ok || r.job.Status != StatusInProgress {
		m.mu.Unlock()
		return
	}
	now := m.opts.Now().UTC()
	r.job.Status, r.job.Cause, r.job.EndedAt = status, cause, &now
	j := r.job
	m.mu.Unlock()
	m.opts.Logger.Info("journal export finished", "ledger", j.LedgerName, "export_id", id, "status", status, "cause", cause)
	if err := m.persist(id); err != nil {
		m.opts.Logger.Error("export status not persisted", "export_id", id, "err", err)
	}
}

func (m *Manager) setProgress(id string, done, total uint64) {
	m.mu.Lock()
	if r, ok := m.jobs[id]; ok {
		r.done, r.total = done, total
	}
	m.mu.Unlock()
}

// Progress returns how many blocks of a job have been written to S3 and how
// many it writes in all (0 until the job knows).
func (m *Manager) Progress(id string) (done, total uint64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.jobs[id]
	if !ok {
		return 0, 0, false
	}
	return r.done, r.total, true
}

// CreateInput is an ExportJournalToS3 request.
type CreateInput struct {
	LedgerName string
	Start, End *time.Time
	RoleARN    string
	Bucket     *string
	Prefix     *string
	Encryption string
	KmsKeyARN  string
	Format     string // "" for the default, ION_TEXT
}

var (
	bucketPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	roleARN       = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$`)
	kmsARN        = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_+=,.@-]+$`)
)

// validate checks a request as QLDB did and returns the job it describes
// (without ids or ledger fields).
func validate(in CreateInput, now time.Time) (Job, error) {
	var j Job
	if in.Start == nil {
		return j, qldberr.Invalid("InclusiveStartTime", "InclusiveStartTime is required")
	}
	if in.End == nil {
		return j, qldberr.Invalid("ExclusiveEndTime", "ExclusiveEndTime is required")
	}
	// The wire carries seconds as a JSON number with millisecond digits;
	// rounding undoes the float's error so they are echoed exactly.
	j.Start, j.End = in.Start.UTC().Round(time.Millisecond), in.End.UTC().Round(time.Millisecond)
	if !j.Start.Before(j.End) {
		return j, qldberr.Invalid("InclusiveStartTime", "The InclusiveStartTime must be before the ExclusiveEndTime")
	}
	if j.End.After(now) {
		return j, qldberr.Invalid("ExclusiveEndTime", "The ExclusiveEndTime must be the current date and time or earlier")
	}
	if len(in.RoleARN) < 20 || len(in.RoleARN) > 1600 || !roleARN.MatchString(in.RoleARN) {
		return j, qldberr.Invalid("RoleArn", "RoleArn %q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", in.RoleARN)
	}
	j.RoleARN = in.RoleARN
	if in.Bucket == nil {
		return j, qldberr.Invalid("S3ExportConfiguration", "S3ExportConfiguration.Bucket is required")
	}
	if b := *in.Bucket; len(b) < 3 || len(b) > 255 || !bucketPattern.MatchString(b) {
		return j, qldberr.Invalid("Bucket", "Bucket %q is not a valid S3 bucket name", b)
	}
	if in.Prefix == nil {
		return j, qldberr.Invalid("S3ExportConfiguration", "S3ExportConfiguration.Prefix is required (it may be empty)")
	}
	if len(*in.Prefix) > 128 {
		return j, qldberr.Invalid("Prefix", "Prefix must be at most 128 characters")
	}
	j.Bucket, j.Prefix = *in.Bucket, *in.Prefix
	switch in.Encryption {
	case EncryptionNone, EncryptionSSES3:
		if in.KmsKeyARN != "" && !kmsARN.MatchString(in.KmsKeyARN) {
			return j, qldberr.Invalid("KmsKeyArn", "KmsKeyArn %q is not a KMS key ARN", in.KmsKeyARN)
		}
	case EncryptionKMS:
		if in.KmsKeyARN == "" {
			return j, qldberr.Invalid("KmsKeyArn", "KmsKeyArn is required when ObjectEncryptionType is SSE_KMS")
		}
		if !kmsARN.MatchString(in.KmsKeyARN) {
			return j, qldberr.Invalid("KmsKeyArn", "KmsKeyArn %q is not a KMS key ARN", in.KmsKeyARN)
		}
	case "":
		return j, qldberr.Invalid("ObjectEncryptionType", "EncryptionConfiguration.ObjectEncryptionType is required: SSE_KMS, SSE_S3 or NO_ENCRYPTION")
	default:
		return j, qldberr.Invalid("ObjectEncryptionType", "ObjectEncryptionType %q is not SSE_KMS, SSE_S3 or NO_ENCRYPTION", in.Encryption)
	}
	j.Encryption, j.KmsKeyARN = in.Encryption, in.KmsKeyARN
	switch in.Format {
	case "":
		j.Format = FormatIonText
	case FormatIonText, FormatIonBinary, FormatJSON:
		j.Format, j.FormatGiven = in.Format, true
	default:
		return j, qldberr.Invalid("OutputFormat", "OutputFormat %q is not ION_BINARY, ION_TEXT or JSON", in.Format)
	}
	return j, nil
}

// Create validates an ExportJournalToS3 request, writes the started
// manifest (which checks the bucket and the role as QLDB did when the
// request was made) and starts the job. It returns the export id.
func (m *Manager) Create(ctx context.Context, in CreateInput) (string, error) {
	if err := ledger.ValidateName("Name", in.LedgerName); err != nil {
		return "", err
	}
	l, err := m.opts.Ledgers.Active(in.LedgerName)
	if err != nil {
		return "", err
	}
	now := m.opts.Now().UTC()
	j, err := validate(in, now)
	if err != nil {
		return "", err
	}
	j.From = j.Start
	if j.From.Before(l.CreationTime) {
		j.From = l.CreationTime
	}
	strand, err := m.opts.Strands.StrandID(l.Name)
	if err != nil {
		return "", fmt.Errorf("export: ledger %s: %w", l.Name, err)
	}
	j.ID, j.LedgerID, j.LedgerName, j.StrandID = qldbid.New(), l.ID, l.Name, strand
	j.Created, j.Status = now, StatusInProgress

	// Take the slot first, so that two concurrent requests cannot both pass.
	m.mu.Lock()
	active := 0
	for _, r := range m.jobs {
		if r.job.LedgerID == l.ID && r.job.Status == StatusInProgress {
			active++
		}
	}
	if active >= m.opts.MaxActivePerLedger {
		m.mu.Unlock()
		return "", &qldberr.Error{Type: qldberr.LimitExceeded, ResourceType: "JOURNAL_S3_EXPORT",
			Message: fmt.Sprintf("Exceeded the limit of %d active journal exports to S3 for ledger %s", m.opts.MaxActivePerLedger, l.Name)}
	}
	r := &running{job: j}
	m.jobs[j.ID] = r
	m.mu.Unlock()
	drop := func() {
		m.mu.Lock()
		delete(m.jobs, j.ID)
		m.mu.Unlock()
	}

	client, err := m.opts.Clients.Client(ctx, m.opts.Region, j.RoleARN)
	if err != nil {
		drop()
		return "", qldberr.Invalid("RoleArn", "QLDB encountered an error validating S3 configuration: %v", err)
	}
	vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := putObject(vctx, client, &j, startedManifestKey(&j), startedManifest(&j)); err != nil {
		drop()
		return "", qldberr.Invalid("S3ExportConfiguration", "QLDB encountered an error validating S3 configuration: %s", describeError(err))
	}
	if err := m.persist(j.ID); err != nil {
		drop()
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.jobs[j.ID] != r { // its ledger was deleted meanwhile
		return "", qldberr.NotFound("LEDGER", in.LedgerName, "Ledger %s does not exist", in.LedgerName)
	}
	m.opts.Logger.Info("journal export started", "ledger", j.LedgerName, "export_id", j.ID, "bucket", j.Bucket,
		"prefix", j.Prefix, "format", j.Format, "start", j.From, "end", j.End)
	m.startLocked(r)
	return j.ID, nil
}

// visible reports whether a job is still listed: finished jobs expire after
// the retention period.
func (m *Manager) visible(j *Job, now time.Time) bool {
	return j.Status == StatusInProgress || j.EndedAt == nil || now.Sub(*j.EndedAt) < m.opts.Retention
}

// Describe returns one export of a ledger.
func (m *Manager) Describe(ledgerName, id string) (Job, error) {
	if err := ledger.ValidateName("Name", ledgerName); err != nil {
		return Job{}, err
	}
	l, err := m.opts.Ledgers.Describe(ledgerName)
	if err != nil {
		return Job{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.jobs[id]
	if !ok || r.job.LedgerID != l.ID || !m.visible(&r.job, m.opts.Now()) {
		return Job{}, qldberr.NotFound("JOURNAL_S3_EXPORT", id, "The journal S3 export %s for ledger %s does not exist", id, ledgerName)
	}
	return r.job, nil
}

// List returns the exports of one ledger (ledgerName != "") or of every
// ledger, oldest first, a page at a time.
func (m *Manager) List(ledgerName string, max int, token string) ([]Job, string, error) {
	ledgerID := ""
	if ledgerName != "" {
		if err := ledger.ValidateName("Name", ledgerName); err != nil {
			return nil, "", err
		}
		l, err := m.opts.Ledgers.Describe(ledgerName)
		if err != nil {
			return nil, "", err
		}
		ledgerID = l.ID
	}
	if max == 0 {
		max = 100
	}
	if max < 1 || max > 100 {
		return nil, "", qldberr.Invalid("MaxResults", "MaxResults must be between 1 and 100, got %d", max)
	}
	scope := "exports/" + ledgerName
	after := ""
	if token != "" {
		k, err := pagetoken.Decode(scope, token)
		if err != nil {
			return nil, "", qldberr.Invalid("NextToken", "NextToken is not a token this server issued for this listing")
		}
		after = k
	}
	now := m.opts.Now()
	var all []Job
	if ledgerName == "" && m.opts.Ownership != nil {
		// On a shared store other nodes run (and record) the exports of
		// the ledgers they hold: list what the store has.
		stored, err := m.load("")
		if err != nil {
			return nil, "", err
		}
		for i := range stored {
			if m.visible(&stored[i], now) {
				all = append(all, stored[i])
			}
		}
	} else {
		m.mu.Lock()
		for _, r := range m.jobs {
			if (ledgerID == "" || r.job.LedgerID == ledgerID) && m.visible(&r.job, now) {
				all = append(all, r.job)
			}
		}
		m.mu.Unlock()
	}
	sortKey := func(j Job) string { return j.Created.Format(time.RFC3339Nano) + "|" + j.ID }
	sort.Slice(all, func(a, b int) bool { return sortKey(all[a]) < sortKey(all[b]) })
	var out []Job
	for _, j := range all {
		if after == "" || sortKey(j) > after {
			out = append(out, j)
		}
	}
	next := ""
	if len(out) > max {
		out = out[:max]
		next = pagetoken.Encode(scope, sortKey(out[max-1]))
	}
	return out, next, nil
}

// DropLedger stops and forgets every export of a deleted ledger.
func (m *Manager) DropLedger(ledgerID string) {
	m.mu.Lock()
	var ids []string
	for id, r := range m.jobs {
		if r.job.LedgerID == ledgerID {
			ids = append(ids, id)
			delete(m.jobs, id)
		}
	}
	m.mu.Unlock()
	m.workers.StopLedger(ledgerID)
	if err := m.forget(ids); err != nil {
		m.opts.Logger.Error("removing a deleted ledger's exports failed", "err", err)
	}
}

// expire forgets the finished jobs past the retention period.
func (m *Manager) expire(now time.Time) {
	m.mu.Lock()
	var ids []string
	for id, r := range m.jobs {
		if !m.visible(&r.job, now) && m.owns(r.job.LedgerID) {
			delete(m.jobs, id)
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	if err := m.forget(ids); err != nil {
		m.opts.Logger.Error("expiring finished exports failed", "err", err)
	}
}
