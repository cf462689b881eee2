package stream

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Unreachable is a live journal stream whose Kinesis destination could not
// be reached with the credentials at hand (see CheckDestinations).
type Unreachable struct {
	LedgerName  string
	StreamID    string
	StreamName  string
	Destination string // the Kinesis stream ARN
	Cause       string // QLDB's error cause when one applies (IAM_PERMISSION_REVOKED, KINESIS_STREAM_NOT_FOUND), else ""
	Err         error
}

// CheckDestinations tries, once, to reach the destination of every live
// (not COMPLETED, CANCELED or FAILED) stream this node delivers: it obtains
// a Kinesis client with the stream's role (the credentials at hand) and
// lists the destination's shards. It returns the streams for which that
// failed, ordered by ledger and stream id, and changes nothing: the
// streams' workers keep retrying on their own. The server calls it at
// start-up to warn the operator; ctx bounds the whole check.
func (m *Manager) CheckDestinations(ctx context.Context) []Unreachable {
	m.mu.Lock()
	var defs []Definition
	for _, r := range m.streams {
		if !terminal(r.def.Status) && m.owns(r.def.LedgerID) {
			defs = append(defs, r.def)
		}
	}
	m.mu.Unlock()
	var (
		mu  sync.Mutex
		out []Unreachable
		wg  sync.WaitGroup
	)
	for _, d := range defs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.reach(ctx, d); err != nil {
				mu.Lock()
				out = append(out, Unreachable{LedgerName: d.LedgerName, StreamID: d.ID, StreamName: d.StreamName,
					Destination: d.Destination, Cause: classify(err), Err: err})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool {
		if out[i].LedgerName != out[j].LedgerName {
			return out[i].LedgerName < out[j].LedgerName
		}
		return out[i].StreamID < out[j].StreamID
	})
	return out
}

// reach obtains a client for d's destination and lists its shards.
func (m *Manager) reach(ctx context.Context, d Definition) error {
	dest, err := ParseDestination(d.Destination)
	if err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	c, err := m.opts.Clients.Client(ctx, dest.Region, d.RoleARN)
	if err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	if _, err := listShards(ctx, c, dest); err != nil {
		return fmt.Errorf("stream: ListShards %s: %w", dest.Name, err)
	}
	return nil
}
