package pgstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/strand-db/strand/internal/store"
)

// Pages: the first query of an iterator fetches firstPage rows (most scans
// are short, or stop early: the newest block of a journal), later ones
// twice the previous up to maxPage.
const (
	firstPage = 16
	maxPage   = 512
)

// NewIter implements store.Store. The iterator reads through a REPEATABLE
// READ READ ONLY transaction on a connection of its own, begun in the same
// round trip as its first page: every page sees one snapshot, taken at the
// first positioning call (First or Last, which callers make right after
// NewIter). When the first page holds the whole range the transaction is
// ended in the background at once and the iterator serves from memory;
// otherwise it holds the connection until Close. A small scan thus costs
// one round trip.
func (s *Store) NewIter(lower, upper []byte) (store.Iterator, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("pgstore: scan: %w", store.ErrClosed)
	}
	return &iter{s: s, lower: bytes.Clone(lower), upper: bytes.Clone(upper), pos: -1}, nil
}

type kv struct{ k, v []byte }

// iter holds a window of the range, kvs, in increasing order; start and end
// record that no key of the range lies before or after it.
type iter struct {
	s            *Store
	lower, upper []byte
	conn         *pgxpool.Conn // nil before the first page and once the transaction ended
	begun        bool
	kvs          []kv
	pos          int // index in kvs, or -1 when not on a key
	start, end   bool
	page         int
	err          error
}

func (i *iter) Valid() bool            { return i.pos >= 0 && i.pos < len(i.kvs) }
func (i *iter) Key() []byte            { return i.kvs[i.pos].k }
func (i *iter) Value() ([]byte, error) { return i.kvs[i.pos].v, nil }
func (i *iter) Error() error           { return i.err }

func (i *iter) First() bool {
	if i.begun && i.start {
		i.pos = 0
		return i.Valid()
	}
	return i.fetch(true, nil)
}

func (i *iter) Last() bool {
	if i.begun && i.end {
		i.pos = len(i.kvs) - 1
		return i.Valid()
	}
	return i.fetch(false, nil)
}

func (i *iter) Next() bool {
	if !i.Valid() {
		return false
	}
	if i.pos+1 < len(i.kvs) {
		i.pos++
		return true
	}
	if i.end {
		i.pos = -1
		return false
	}
	return i.fetch(true, i.kvs[i.pos].k)
}

func (i *iter) Prev() bool {
	if !i.Valid() {
		return false
	}
	if i.pos > 0 {
		i.pos--
		return true
	}
	if i.start {
		i.pos = -1
		return false
	}
	return i.fetch(false, i.kvs[i.pos].k)
}

// fetch replaces the window with the next page in the direction (forward:
// keys after from, or from lower when from is nil; backward: keys before
// from, or before upper), and puts the iterator on its first key in that
// direction.
func (i *iter) fetch(forward bool, from []byte) bool {
	i.pos = -1
	if i.err != nil {
		return false
	}
	if i.s.closed.Load() {
		i.err = fmt.Errorf("pgstore: scan: %w", store.ErrClosed)
		return false
	}
	if i.begun && i.conn == nil {
		// Cannot happen: the whole range is in memory once the transaction ended.
		i.err = fmt.Errorf("pgstore: scan: iterator has no snapshot left")
		return false
	}
	if i.begun {
		i.page = min(2*i.page, maxPage)
	} else {
		i.page = firstPage
	}
	var where []string
	var args []any
	add := func(cond string, v []byte) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if i.lower != nil {
		add("k >= $%d", i.lower)
	}
	if i.upper != nil {
		add("k < $%d", i.upper)
	}
	order := "ASC"
	switch {
	case forward && from != nil:
		add("k > $%d", from)
	case !forward:
		order = "DESC"
		if from != nil {
			add("k < $%d", from)
		}
	}
	sql := "SELECT k, v FROM strand_kv"
	for n, w := range where {
		if n == 0 {
			sql += " WHERE " + w
		} else {
			sql += " AND " + w
		}
	}
	sql += fmt.Sprintf(" ORDER BY k %s LIMIT %d", order, i.page)

	ctx, cancel := i.s.ctx()
	defer cancel()
	var rows pgx.Rows
	var res pgx.BatchResults
	var err error
	if !i.begun {
		// The transaction's BEGIN and its first page share one round trip.
		conn, aerr := i.s.pool.Acquire(ctx)
		if aerr != nil {
			i.err = i.s.fail("scan", aerr)
			return false
		}
		i.conn, i.begun = conn, true
		q := &pgx.Batch{}
		q.Queue(`BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY`)
		q.Queue(sql, args...)
		res = conn.SendBatch(ctx, q)
		if _, err = res.Exec(); err == nil {
			rows, err = res.Query()
		}
	} else {
		rows, err = i.conn.Query(ctx, sql, args...)
	}
	var kvs []kv
	if err == nil {
		kvs, err = readPage(rows, i.page)
	} else if rows != nil {
		rows.Close()
	}
	if res != nil {
		if cerr := res.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		i.err = i.s.fail("scan", err)
		i.endTx()
		return false
	}
	complete := len(kvs) < i.page // nothing more in this direction
	if forward {
		i.start, i.end = from == nil, complete
		i.pos = 0
	} else {
		slices.Reverse(kvs)
		i.start, i.end = complete, from == nil
		i.pos = len(kvs) - 1
	}
	i.kvs = kvs
	if i.start && i.end {
		i.endTx()
	}
	return i.Valid()
}

// endTx ends the read-only transaction in the background and returns the
// connection to the pool (Store.Close waits for it).
func (i *iter) endTx() {
	if i.conn == nil {
		return
	}
	conn := i.conn
	i.conn = nil
	i.s.bg.Add(1)
	go func() {
		defer i.s.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), i.s.opTimeout)
		defer cancel()
		_, _ = conn.Exec(ctx, `COMMIT`) // a failure leaves the connection in a transaction: Release destroys it
		conn.Release()
	}()
}

func (i *iter) Close() error {
	i.endTx()
	i.kvs, i.pos = nil, -1
	return i.err
}

// readPage reads and closes the rows of one page.
func readPage(rows pgx.Rows, n int) ([]kv, error) {
	defer rows.Close()
	kvs := make([]kv, 0, n)
	for rows.Next() {
		var e kv
		if err := rows.Scan(&e.k, &e.v); err != nil {
			return nil, err
		}
		if e.v == nil {
			e.v = []byte{}
		}
		kvs = append(kvs, e)
	}
	rows.Close()
	return kvs, rows.Err()
}
