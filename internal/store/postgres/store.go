// Package pgstore is a store.Store on PostgreSQL (13 and later) and the
// PostgreSQL-compatible distributed databases (CockroachDB, YugabyteDB),
// through pgx and its connection pool. Every key lives in one table of
// ordered keys, strand_kv(k bytea PRIMARY KEY, v bytea NOT NULL): bytea
// compares byte-wise, the order store.Iterator promises. A second table,
// strand_schema, holds the schema's version; Open creates or migrates the
// schema, and refuses a database whose schema is newer than it knows.
//
// Apply runs each batch as one database transaction (READ COMMITTED with
// row locks, or SERIALIZABLE when it expects a key absent; retried on
// serialization failures) and returns only after COMMIT has returned:
// the database's commit is the durability point, so the store has no tip
// record files (Dir returns "").
package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/strand-db/strand/internal/store"
)

// SchemaVersion is the version of the tables this package reads and writes.
const SchemaVersion = 1

// ErrSchemaTooNew is matched by the error of Open on a database whose schema
// was written by a newer Strand.
var ErrSchemaTooNew = errors.New("pgstore: the database's schema is newer than this strand binary")

// Options tune Open. The zero value is the default setting.
type Options struct {
	// MaxConns is the size of the connection pool; 0 means DefaultMaxConns.
	// An open iterator over more than one page holds a connection until it
	// is closed.
	MaxConns int32

	// ConnectTimeout bounds the connection and schema set-up of Open, and
	// each new connection of the pool; 0 means 10 seconds.
	ConnectTimeout time.Duration

	// OpTimeout bounds each operation (a read, a page of an iterator, a
	// commit with its retries); 0 means 60 seconds. The engine's calls
	// carry no deadline of their own: this keeps a lost database from
	// hanging them forever.
	OpTimeout time.Duration

	// WriteIdleTimeout bounds how long a write transaction may wait for
	// this node between its statements and its COMMIT (the database's
	// idle_in_transaction_session_timeout, set for each write
	// transaction); 0 means 10 seconds. The database then ends the session
	// and its row locks: a node cut off from the database at that moment
	// would otherwise keep the rows it checked (a ledger's fence, its
	// lease) locked for as long as the partition lasts, and no other node
	// could take the ledger over. The transaction is rolled back and the
	// node's COMMIT fails, so nothing is acknowledged.
	WriteIdleTimeout time.Duration
}

// DefaultMaxConns is the pool size when Options.MaxConns is 0.
const DefaultMaxConns = 10

// Store is an open PostgreSQL store; it implements store.Store.
type Store struct {
	pool      *pgxpool.Pool
	where     string // host:port/database, for errors (never the password)
	opTimeout time.Duration
	// setIdle is the SET LOCAL of Options.WriteIdleTimeout.
	setIdle string
	// beforeCommit, when set (tests only), runs between a write
	// transaction's statements and its COMMIT.
	beforeCommit func()
	closed       atomic.Bool
	bg           sync.WaitGroup // iterators' background rollbacks
	retries      atomic.Uint64  // transactions run again (see Retries)
}

// Retries reports how many times Apply has run a transaction again since
// Open because the database aborted it as a serialization failure or a
// deadlock (a measure of contention; each is invisible to the caller
// unless the retries ran out).
func (s *Store) Retries() uint64 { return s.retries.Load() }

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (postgres:// or postgresql://, any
// parameter pgx accepts), checks that it answers within the connect
// timeout, and creates or migrates the schema.
func Open(url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's parse errors may quote the URL, password included.
		return nil, errors.New("pgstore: the store URL is not a valid PostgreSQL connection URL")
	}
	where := net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port))) + "/" + cfg.ConnConfig.Database
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.OpTimeout <= 0 {
		opts.OpTimeout = 60 * time.Second
	}
	cfg.MaxConns = opts.MaxConns
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	ctx, cancel := context.WithTimeout(context.Background(), opts.ConnectTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect to %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connect to %s: %w", where, err)
	}
	if opts.WriteIdleTimeout <= 0 {
		opts.WriteIdleTimeout = 10 * time.Second
	}
	s := &Store{pool: pool, where: where, opTimeout: opts.OpTimeout,
		setIdle: fmt.Sprintf("SET LOCAL idle_in_transaction_session_timeout = %d", max(opts.WriteIdleTimeout.Milliseconds(), 1))}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: %s: %w", where, err)
	}
	return s, nil
}

// migrate creates the schema or brings it to SchemaVersion, in one
// transaction; several nodes starting at once retry on the conflict.
func (s *Store) migrate(ctx context.Context) error {
	var err error
	for range 5 {
		if err = s.migrateOnce(ctx); err == nil || !retryable(err) && !isCode(err, "23505", "42P07") {
			return err
		}
	}
	return err
}

func (s *Store) migrateOnce(ctx context.Context) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.Serializable}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS strand_schema (id INT PRIMARY KEY, version INT NOT NULL)`); err != nil {
			return fmt.Errorf("create schema table: %w", err)
		}
		var version int
		err := tx.QueryRow(ctx, `SELECT version FROM strand_schema WHERE id = 1`).Scan(&version)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			version = 0
		case err != nil:
			return fmt.Errorf("read schema version: %w", err)
		}
		if version > SchemaVersion {
			return fmt.Errorf("%w: schema version %d, this binary knows up to %d; run a newer strand", ErrSchemaTooNew, version, SchemaVersion)
		}
		if version == SchemaVersion {
			return nil
		}
		// Version 0 -> 1: the key-value table. Later versions add steps here.
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS strand_kv (k BYTEA PRIMARY KEY, v BYTEA NOT NULL)`); err != nil {
			return fmt.Errorf("create strand_kv: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO strand_schema (id, version) VALUES (1, $1)
			ON CONFLICT (id) DO UPDATE SET version = excluded.version`, SchemaVersion); err != nil {
			return fmt.Errorf("record schema version: %w", err)
		}
		return nil
	})
}

// retryable reports a serialization failure or deadlock: the transaction
// may succeed when run again.
func retryable(err error) bool { return isCode(err, "40001", "40P01") }

// retryFor bounds how long Apply keeps running again a batch the database
// aborted as a serialization failure or deadlock.
const retryFor = 5 * time.Second

// retryPause is the pause before attempt+1: 1 ms doubling up to 64 ms,
// with up to half of it again at random so that the transactions that
// collided do not collide again in step.
func retryPause(attempt int) time.Duration {
	d := time.Millisecond << min(attempt, 6)
	return d + rand.N(d/2+1)
}

func isCode(err error, codes ...string) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	for _, c := range codes {
		if pe.Code == c {
			return true
		}
	}
	return false
}

// Dir implements store.Store: "" (there are no tip record files; the
// database's commit is the durability point).
func (s *Store) Dir() string { return "" }

// Close implements store.Store: it waits for the iterators' background
// rollbacks and closes the pool.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return fmt.Errorf("pgstore: close: %w", store.ErrClosed)
	}
	s.bg.Wait()
	s.pool.Close()
	return nil
}

func (s *Store) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.opTimeout)
}

// fail wraps an error of op with the database's address.
func (s *Store) fail(op string, err error) error {
	return fmt.Errorf("pgstore: %s (%s): %w", op, s.where, err)
}

// Get implements store.Store with one query.
func (s *Store) Get(key []byte) ([]byte, bool, error) {
	if s.closed.Load() {
		return nil, false, fmt.Errorf("pgstore: get: %w", store.ErrClosed)
	}
	ctx, cancel := s.ctx()
	defer cancel()
	var v []byte
	err := s.pool.QueryRow(ctx, `SELECT v FROM strand_kv WHERE k = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, s.fail("get", err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, true, nil
}

// Scan implements store.Store.
func (s *Store) Scan(lower, upper []byte, fn func(key, value []byte) bool) error {
	return store.Scan(s, lower, upper, fn)
}

// ScanReverse implements store.Store.
func (s *Store) ScanReverse(lower, upper []byte, fn func(key, value []byte) bool) error {
	return store.ScanReverse(s, lower, upper, fn)
}

// NewBatch implements store.Store.
func (s *Store) NewBatch() store.Batch { return &batch{s: s} }

// NewIndexedBatch implements store.Store.
func (s *Store) NewIndexedBatch() store.IndexedBatch { return &batch{s: s} }

// Apply implements store.Store: the batch's expectations and writes, in
// order, in one database transaction whose statements before COMMIT are
// sent as one message (script.go); Apply returns after COMMIT returns. An expectation of a present key reads it with
// SELECT ... FOR UPDATE: the row stays locked until the commit against
// every writer of the database, other nodes included, so the check holds
// at the commit. Such a batch runs at READ COMMITTED, where the row locks
// are the whole of the isolation and nothing is aborted for a conflict it
// did not have (SERIALIZABLE's predicate locks are page-wide: a lease
// renewal whose row shares an index page with the commits' new rows was
// aborted as the pivot of their "dangerous structures" again and again).
// A batch expecting a key absent has no row to lock and runs at
// SERIALIZABLE, which orders it against every other SERIALIZABLE batch
// that read or wrote that key: hence the rule for callers that a key
// some batch expects absent is written only by batches that expect it
// too (ledger catalogue entries and lease rows are). A transaction the
// database aborts as a serialization failure or a deadlock is run again
// (the batch is replayed, expectations re-checked) with a growing,
// jittered pause, for up to retryFor. An error that left the batch surely
// unapplied (COMMIT never sent, or refused by the database) matches
// store.ErrNotApplied; a failed COMMIT whose outcome is unknown (the
// connection broke) does not: the batch may or may not be applied.
func (s *Store) Apply(b store.Batch) error {
	pb, ok := b.(*batch)
	if !ok || pb.s != s {
		return fmt.Errorf("pgstore: commit: a batch of another store (%T)", b)
	}
	if s.closed.Load() {
		return fmt.Errorf("pgstore: commit: %w", store.ErrClosed)
	}
	if len(pb.ops) == 0 && len(pb.expects) == 0 {
		return nil
	}
	ctx, cancel := s.ctx()
	defer cancel()
	var err error
	deadline := time.Now().Add(retryFor)
	for attempt := 0; ; attempt++ {
		if err = s.applyOnce(ctx, pb); err == nil || !retryable(err) || time.Now().After(deadline) {
			break
		}
		s.retries.Add(1)
		time.Sleep(retryPause(attempt))
	}
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return s.fail("commit", err)
	}
	return err
}

func (s *Store) applyOnce(ctx context.Context, pb *batch) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", store.ErrNotApplied, err)
	}
	defer conn.Release() // a connection left in a transaction is destroyed, not reused
	// Everything but COMMIT in one message (see script.go).
	results, err := conn.Conn().PgConn().Exec(ctx, pb.script(s.setIdle)).ReadAll()
	if err == nil {
		var got [][]byte
		if got, err = expectedValues(results, len(pb.expects)); err == nil {
			err = pb.checkExpects(got)
		}
	}
	if err != nil {
		// Best effort: a broken connection is destroyed on release anyway.
		_, _ = conn.Exec(ctx, `ROLLBACK`)
		if errors.Is(err, store.ErrConflict) {
			return err
		}
		return fmt.Errorf("%w: %w", store.ErrNotApplied, err) // COMMIT was not sent
	}
	if s.beforeCommit != nil {
		s.beforeCommit()
	}
	_, err = conn.Exec(ctx, `COMMIT`)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// The database answered: the transaction was rolled back.
		return fmt.Errorf("%w: %w", store.ErrNotApplied, err)
	}
	return err // nil, or the connection broke: the outcome is unknown
}

// op is one write: a range deletion when end is set, a deletion when del,
// else a set.
type op struct {
	key, end, val []byte
	del           bool
}

func (o op) covers(k []byte) bool {
	if o.end != nil {
		return bytes.Compare(o.key, k) <= 0 && bytes.Compare(k, o.end) < 0
	}
	return bytes.Equal(o.key, k)
}

// expectation is one Batch.Expect: value nil means absent.
type expectation struct{ key, value []byte }

// batch is both a store.Batch and a store.IndexedBatch: its writes are kept
// in order and sent by Apply; its reads replay them over the committed
// state.
type batch struct {
	s       *Store
	ops     []op
	expects []expectation
}

func (b *batch) Set(key, value []byte) error {
	v := bytes.Clone(value)
	if v == nil {
		v = []byte{} // nil would be sent as NULL
	}
	b.ops = append(b.ops, op{key: bytes.Clone(key), val: v})
	return nil
}

func (b *batch) Delete(key []byte) error {
	b.ops = append(b.ops, op{key: bytes.Clone(key), del: true})
	return nil
}

func (b *batch) DeleteRange(start, end []byte) error {
	e := bytes.Clone(end)
	if e == nil {
		e = []byte{}
	}
	b.ops = append(b.ops, op{key: bytes.Clone(start), end: e})
	return nil
}

// beginStatement opens the batch's transaction: READ COMMITTED unless an
// expectation is of an absent key (see Apply).
func (b *batch) beginStatement() string {
	for _, e := range b.expects {
		if e.value == nil {
			return `BEGIN ISOLATION LEVEL SERIALIZABLE`
		}
	}
	return `BEGIN ISOLATION LEVEL READ COMMITTED`
}

func (b *batch) Expect(key, value []byte) error {
	b.expects = append(b.expects, expectation{key: bytes.Clone(key), value: bytes.Clone(value)})
	return nil
}

func (b *batch) Close() error { b.ops, b.expects = nil, nil; return nil }

// Get reads key from the committed state (one query) and replays the
// batch's writes over it.
func (b *batch) Get(key []byte) ([]byte, bool, error) {
	v, ok, err := b.s.Get(key)
	if err != nil {
		return nil, false, err
	}
	for _, o := range b.ops {
		if o.covers(key) {
			v, ok = bytes.Clone(o.val), o.end == nil && !o.del
		}
	}
	return v, ok, nil
}

// NewIter implements store.IndexedBatch: the store's iterator over the
// committed range (one snapshot, read page by page), merged with the
// batch's writes as they were when NewIter was called. Moving forward
// streams; the first move backward (Last, Prev) reads the rest of the range
// into memory.
func (b *batch) NewIter(lower, upper []byte) (store.Iterator, error) {
	base, err := b.s.NewIter(lower, upper)
	if err != nil {
		return nil, err
	}
	m := &mergeIter{base: base, lower: lower, upper: upper, points: map[string]bool{}}
	final := map[string]*kv{}
	for _, o := range b.ops {
		if o.end != nil {
			m.ranges = append(m.ranges, o)
			for k := range final {
				if o.covers([]byte(k)) {
					delete(final, k)
				}
			}
			continue
		}
		m.points[string(o.key)] = true
		if o.del {
			delete(final, string(o.key))
		} else if m.inRange(o.key) {
			final[string(o.key)] = &kv{o.key, o.val}
		}
	}
	for _, e := range final {
		m.overlay = append(m.overlay, *e)
	}
	slices.SortFunc(m.overlay, func(x, y kv) int { return bytes.Compare(x.k, y.k) })
	return m, nil
}
