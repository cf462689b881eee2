// Package ledger is the ledger catalogue: creating, describing, listing,
// updating, tagging and deleting ledgers, with QLDB's validation rules and
// error types. It persists through package store and knows nothing of HTTP.
package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/strand-db/strand/internal/pagetoken"
	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/qldbid"
	"github.com/strand-db/strand/internal/store"
)

// Ledger states, permission modes and the AWS-owned key marker, as QLDB spells them.
const (
	StateActive   = "ACTIVE"
	StateCreating = "CREATING"
	StateDeleting = "DELETING"

	PermissionsAllowAll = "ALLOW_ALL"
	PermissionsStandard = "STANDARD"

	AWSOwnedKey = "AWS_OWNED_KMS_KEY"
)

// Entry is one ledger's catalogue entry.
type Entry struct {
	ID                 string            `json:"id"` // internal id prefixing the ledger's data; a re-created name gets a new one
	Name               string            `json:"name"`
	ARN                string            `json:"arn"`
	State              string            `json:"state"`
	CreationTime       time.Time         `json:"creationTime"`
	PermissionsMode    string            `json:"permissionsMode"`
	DeletionProtection bool              `json:"deletionProtection"`
	KmsKeyARN          string            `json:"kmsKeyArn"` // AWSOwnedKey or a KMS key/alias ARN
	Tags               map[string]string `json:"tags,omitempty"`
}

// CustomerKey reports whether the ledger is encrypted with a customer managed key.
func (l Entry) CustomerKey() bool { return l.KmsKeyARN != AWSOwnedKey }

// CreateInput is a CreateLedger request.
type CreateInput struct {
	Name               string
	PermissionsMode    string
	DeletionProtection *bool // nil means true
	KmsKey             *string
	Tags               map[string]*string
	// ID, when not empty, is the new entry's internal id: strand import
	// writes a ledger's data under it before the entry (see
	// txn.StageImport). Empty: a fresh id.
	ID string
}

// Options configure a Catalog.
type Options struct {
	Region     string
	AccountID  string
	MaxLedgers int // quota of active ledgers
	// OnDelete, if set, is called (with the catalogue unlocked) after a
	// ledger is removed, so that its sessions, streams and data can go.
	OnDelete func(Entry)
	// Logger receives the report of a damaged ledger (MarkDamaged); nil
	// means slog.Default().
	Logger *slog.Logger
	// Shared says the store is shared with other nodes: every read loads
	// the catalogue again from the store, so that a ledger created, changed
	// or deleted through any node is seen by all at once, and every change
	// is a conditional write (store.Batch.Expect) of the entry as read, so
	// that concurrent changes through two nodes cannot both win.
	Shared bool
}

// Catalog holds every ledger. It is safe for concurrent use.
type Catalog struct {
	st   store.Store
	opts Options

	mu      sync.RWMutex
	ledgers map[string]*Entry
	raw     map[string][]byte // each entry as stored, by name (what a shared store's changes expect)
	damaged map[string]Damage // by ledger id; see MarkDamaged
}

var catalogPrefix = []byte("c/ledger/")

func catalogKey(name string) []byte { return append([]byte("c/ledger/"), name...) }

// Open loads the catalogue from st.
func Open(st store.Store, opts Options) (*Catalog, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Catalog{st: st, opts: opts, damaged: map[string]Damage{}}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// load reads every entry from the store, replacing what c holds.
func (c *Catalog) load() error {
	ledgers, raws := map[string]*Entry{}, map[string][]byte{}
	var decodeErr error
	err := c.st.Scan(catalogPrefix, store.PrefixEnd(catalogPrefix), func(_, v []byte) bool {
		l := new(Entry)
		if err := json.Unmarshal(v, l); err != nil {
			decodeErr = fmt.Errorf("ledger: corrupt catalogue entry: %w", err)
			return false
		}
		ledgers[l.Name] = l
		raws[l.Name] = append([]byte(nil), v...)
		return true
	})
	if err == nil {
		err = decodeErr
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.ledgers, c.raw = ledgers, raws
	c.mu.Unlock()
	return nil
}

// sync reloads the catalogue on a shared store (see Options.Shared).
func (c *Catalog) sync() error {
	if !c.opts.Shared {
		return nil
	}
	if err := c.load(); err != nil {
		return fmt.Errorf("ledger: load catalogue: %w", err)
	}
	return nil
}

// syncEntry reloads one entry on a shared store: a lookup by name (every
// routed request and every session start makes one) reads one key rather
// than the whole catalogue.
func (c *Catalog) syncEntry(name string) error {
	if !c.opts.Shared {
		return nil
	}
	raw, ok, err := c.st.Get(catalogKey(name))
	if err != nil {
		return fmt.Errorf("ledger: load catalogue entry: %w", err)
	}
	var l *Entry
	if ok {
		l = new(Entry)
		if err := json.Unmarshal(raw, l); err != nil {
			return fmt.Errorf("ledger: corrupt catalogue entry: %w", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if l == nil {
		delete(c.ledgers, name)
		delete(c.raw, name)
		return nil
	}
	c.ledgers[name], c.raw[name] = l, raw
	return nil
}

// maxConflictRetries bounds how often a change that lost a race with
// another node's change is retried on the fresh catalogue (with a short
// random pause growing with each try, so that racing nodes spread out).
const maxConflictRetries = 50

// retry runs change until it does not lose a race with another node on a
// shared store (store.ErrConflict), reloading the catalogue before each try.
func (c *Catalog) retry(change func() error) error {
	var err error
	for i := 0; i < maxConflictRetries; i++ {
		if i > 0 {
			time.Sleep(time.Duration(rand.Int64N(int64(time.Millisecond) * int64(min(i, 10)))))
		}
		if err = c.sync(); err != nil {
			return err
		}
		if err = change(); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return qldberr.New(qldberr.ResourceInUse, "The ledger catalogue is being changed concurrently; retry the request")
}

// put stores l, expecting (on a shared store) the entry of its name to be
// as c last read it. Called with c.mu held.
func (c *Catalog) put(l *Entry) error {
	b, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	batch := c.st.NewBatch()
	defer batch.Close()
	if c.opts.Shared {
		if err := batch.Expect(catalogKey(l.Name), c.raw[l.Name]); err != nil {
			return fmt.Errorf("ledger: %w", err)
		}
	}
	if err := batch.Set(catalogKey(l.Name), b); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	if err := c.st.Apply(batch); err != nil {
		return err
	}
	c.raw[l.Name] = b
	return nil
}

func notFound(name string) error {
	return qldberr.NotFound("LEDGER", name, "Ledger %s does not exist", name)
}

// Create adds a ledger. It is ACTIVE at once.
func (c *Catalog) Create(in CreateInput, now time.Time) (Entry, error) {
	if err := ValidateName("Name", in.Name); err != nil {
		return Entry{}, err
	}
	switch in.PermissionsMode {
	case PermissionsAllowAll, PermissionsStandard:
	case "":
		return Entry{}, qldberr.Invalid("PermissionsMode", "PermissionsMode is required: ALLOW_ALL or STANDARD")
	default:
		return Entry{}, qldberr.Invalid("PermissionsMode", "PermissionsMode %q is not ALLOW_ALL or STANDARD", in.PermissionsMode)
	}
	tags, err := NewTags(in.Tags)
	if err != nil {
		return Entry{}, err
	}
	key := AWSOwnedKey
	if in.KmsKey != nil {
		k, err := c.resolveKey(*in.KmsKey)
		if err != nil {
			return Entry{}, err
		}
		key = k
	}
	id := in.ID
	if id == "" {
		id = qldbid.New()
	}
	l := &Entry{
		ID:                 id,
		Name:               in.Name,
		ARN:                LedgerARN(c.opts.Region, c.opts.AccountID, in.Name),
		State:              StateActive,
		CreationTime:       now.UTC().Truncate(time.Millisecond),
		PermissionsMode:    in.PermissionsMode,
		DeletionProtection: in.DeletionProtection == nil || *in.DeletionProtection,
		KmsKeyARN:          key,
		Tags:               tags,
	}
	err = c.retry(func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.ledgers[in.Name]; ok {
			return &qldberr.Error{Type: qldberr.ResourceAlreadyExists, ResourceType: "LEDGER", ResourceName: in.Name,
				Message: fmt.Sprintf("Ledger with name %s already exists", in.Name)}
		}
		if len(c.ledgers) >= c.opts.MaxLedgers {
			return &qldberr.Error{Type: qldberr.LimitExceeded, ResourceType: "LEDGER",
				Message: fmt.Sprintf("Exceeded the limit of %d active ledgers", c.opts.MaxLedgers)}
		}
		if err := c.put(l); err != nil {
			return err
		}
		c.ledgers[l.Name] = l
		return nil
	})
	if err != nil {
		return Entry{}, err
	}
	return l.clone(), nil
}

var (
	kmsARNPattern   = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_+=,.@-]+$`)
	kmsKeyIDPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,256}$`)
	kmsAliasPattern = regexp.MustCompile(`^alias/[A-Za-z0-9/_-]{1,250}$`)
)

// resolveKey turns a KmsKey request value into the ARN reported back: the
// AWS-owned marker, an ARN as given, or an ARN built from a key id or alias
// name in the server's region and account.
func (c *Catalog) resolveKey(k string) (string, error) {
	switch {
	case k == AWSOwnedKey:
		return k, nil
	case len(k) > 1600:
		return "", qldberr.Invalid("KmsKey", "KmsKey is longer than 1600 characters")
	case kmsARNPattern.MatchString(k):
		return k, nil
	case kmsAliasPattern.MatchString(k):
		return fmt.Sprintf("arn:aws:kms:%s:%s:%s", c.opts.Region, c.opts.AccountID, k), nil
	case kmsKeyIDPattern.MatchString(k):
		return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", c.opts.Region, c.opts.AccountID, k), nil
	}
	return "", qldberr.Invalid("KmsKey", "KmsKey %q is not AWS_OWNED_KMS_KEY, a KMS key id, alias or ARN", k)
}

func (l *Entry) clone() Entry {
	out := *l
	if l.Tags != nil {
		out.Tags = make(map[string]string, len(l.Tags))
		for k, v := range l.Tags {
			out.Tags[k] = v
		}
	}
	return out
}

func validateLookupName(name string) error {
	if err := ValidateName("Name", name); err != nil {
		return err
	}
	return nil
}

// Describe returns a ledger by name.
func (c *Catalog) Describe(name string) (Entry, error) {
	if err := validateLookupName(name); err != nil {
		return Entry{}, err
	}
	if err := c.syncEntry(name); err != nil {
		return Entry{}, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	l, ok := c.ledgers[name]
	if !ok {
		return Entry{}, notFound(name)
	}
	return l.clone(), nil
}

// Active returns the ledger by name when it exists and is ACTIVE: a missing
// ledger is a ResourceNotFoundException, one in another state a
// ResourcePreconditionNotMetException.
func (c *Catalog) Active(name string) (Entry, error) {
	l, err := c.Describe(name)
	if err != nil {
		return Entry{}, err
	}
	if l.State != StateActive {
		return Entry{}, qldberr.Precondition("LEDGER", name, "Ledger %s is %s, not ACTIVE", name, l.State)
	}
	return l, nil
}

// DefaultPageSize is the page size of List when none is asked for.
const DefaultPageSize = 100

// List returns up to max ledgers in name order after the page token, and
// the token of the next page ("" on the last).
func (c *Catalog) List(max int, token string) ([]Entry, string, error) {
	if max == 0 {
		max = DefaultPageSize
	}
	if max < 1 || max > 100 {
		return nil, "", qldberr.Invalid("MaxResults", "MaxResults must be between 1 and 100, got %d", max)
	}
	after := ""
	if token != "" {
		k, err := pagetoken.Decode("ledgers", token)
		if err != nil {
			return nil, "", qldberr.Invalid("NextToken", "NextToken is not a token this server issued")
		}
		after = k
	}
	if err := c.sync(); err != nil {
		return nil, "", err
	}
	c.mu.RLock()
	names := make([]string, 0, len(c.ledgers))
	for n := range c.ledgers {
		if n > after {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	next := ""
	if len(names) > max {
		names = names[:max]
		next = pagetoken.Encode("ledgers", names[max-1])
	}
	out := make([]Entry, len(names))
	for i, n := range names {
		out[i] = c.ledgers[n].clone()
	}
	c.mu.RUnlock()
	return out, next, nil
}

// Update changes a ledger's deletion protection and/or encryption key.
func (c *Catalog) Update(name string, deletionProtection *bool, kmsKey *string) (Entry, error) {
	if err := validateLookupName(name); err != nil {
		return Entry{}, err
	}
	key := ""
	if kmsKey != nil {
		k, err := c.resolveKey(*kmsKey)
		if err != nil {
			return Entry{}, err
		}
		key = k
	}
	return c.modify(name, func(l *Entry) error {
		if deletionProtection != nil {
			l.DeletionProtection = *deletionProtection
		}
		if key != "" {
			l.KmsKeyARN = key
		}
		return nil
	})
}

// UpdatePermissionsMode sets a ledger's permissions mode.
func (c *Catalog) UpdatePermissionsMode(name, mode string) (Entry, error) {
	if err := validateLookupName(name); err != nil {
		return Entry{}, err
	}
	if mode != PermissionsAllowAll && mode != PermissionsStandard {
		return Entry{}, qldberr.Invalid("PermissionsMode", "PermissionsMode %q is not ALLOW_ALL or STANDARD", mode)
	}
	return c.modify(name, func(l *Entry) error {
		l.PermissionsMode = mode
		return nil
	})
}

// modify applies fn to a copy of the named ledger and stores it; on any
// error nothing changes.
func (c *Catalog) modify(name string, fn func(*Entry) error) (Entry, error) {
	var out Entry
	err := c.retry(func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		cur, ok := c.ledgers[name]
		if !ok {
			return notFound(name)
		}
		next := cur.clone()
		if err := fn(&next); err != nil {
			return err
		}
		if err := c.put(&next); err != nil {
			return err
		}
		c.ledgers[name] = &next
		out = next.clone()
		return nil
	})
	return out, err
}

// Delete removes a ledger. It is refused while deletion protection is on.
// The name can be used again at once.
func (c *Catalog) Delete(name string) error {
	if err := validateLookupName(name); err != nil {
		return err
	}
	var gone Entry
	err := c.retry(func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		l, ok := c.ledgers[name]
		if !ok {
			return notFound(name)
		}
		if l.DeletionProtection {
			return qldberr.Precondition("LEDGER", name,
				"Ledger %s has deletion protection enabled; disable it with UpdateLedger before deleting the ledger", name)
		}
		batch := c.st.NewBatch()
		defer batch.Close()
		if c.opts.Shared {
			if err := batch.Expect(catalogKey(name), c.raw[name]); err != nil {
				return fmt.Errorf("ledger: %w", err)
			}
		}
		if err := batch.Delete(catalogKey(name)); err != nil {
			return fmt.Errorf("ledger: %w", err)
		}
		if err := c.st.Apply(batch); err != nil {
			return err
		}
		delete(c.ledgers, name)
		delete(c.raw, name)
		gone = l.clone()
		return nil
	})
	if err != nil {
		return err
	}
	if c.opts.OnDelete != nil {
		c.opts.OnDelete(gone)
	}
	return nil
}

// resolveARN checks that an ARN names a ledger of this server and returns its name.
func (c *Catalog) ledgerFromARN(a ARN, raw string) (string, error) {
	if !c.InPartition(a) || a.StreamID != "" || a.TableID != "" {
		return "", qldberr.NotFound("LEDGER", raw, "Resource %s does not exist", raw)
	}
	return a.Ledger, nil
}

// InPartition reports whether a names this server's region and account.
func (c *Catalog) InPartition(a ARN) bool {
	return a.Region == c.opts.Region && a.AccountID == c.opts.AccountID
}

// Tag adds or replaces tags on the ledger named by a parsed ledger ARN.
func (c *Catalog) Tag(a ARN, raw string, tags map[string]*string) error {
	name, err := c.ledgerFromARN(a, raw)
	if err != nil {
		return err
	}
	add, err := TagsToAdd(tags)
	if err != nil {
		return err
	}
	_, err = c.modify(name, func(l *Entry) error {
		next, err := WithTags(l.Tags, add)
		if err != nil {
			return err
		}
		l.Tags = next
		return nil
	})
	return err
}

// Untag removes tag keys from the ledger named by a parsed ledger ARN;
// absent keys are ignored.
func (c *Catalog) Untag(a ARN, raw string, keys []string) error {
	name, err := c.ledgerFromARN(a, raw)
	if err != nil {
		return err
	}
	if err := ValidateTagKeys(keys); err != nil {
		return err
	}
	_, err = c.modify(name, func(l *Entry) error {
		l.Tags = WithoutTags(l.Tags, keys)
		return nil
	})
	return err
}

// Tags returns the tags of the ledger named by a parsed ledger ARN.
func (c *Catalog) Tags(a ARN, raw string) (map[string]string, error) {
	name, err := c.ledgerFromARN(a, raw)
	if err != nil {
		return nil, err
	}
	l, err := c.Describe(name)
	if err != nil {
		return nil, qldberr.NotFound("LEDGER", raw, "Resource %s does not exist", raw)
	}
	return l.Tags, nil
}

// IDs returns the set of every ledger's id (whatever its state).
func (c *Catalog) IDs() map[string]bool {
	_ = c.sync() // on failure, what was last read
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[string]bool, len(c.ledgers))
	for _, l := range c.ledgers {
		out[l.ID] = true
	}
	return out
}

// Names returns every ledger name, sorted.
func (c *Catalog) Names() []string {
	_ = c.sync() // on failure, what was last read
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.ledgers))
	for n := range c.ledgers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
