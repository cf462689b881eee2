package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/strand-db/strand/internal/api"
	"github.com/strand-db/strand/internal/cluster"
	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/qldberr"
)

// SharedStore reports whether cfg's store may be shared by several nodes
// (PostgreSQL): ledgers are then leased to one node at a time
// (package cluster) and requests are forwarded to their owner.
func SharedStore(cfg config.Config) bool { return cfg.StoreKind() == config.StorePostgres }

// router is the api's Router on a shared store, nil otherwise.
func (n *Node) router() api.Router {
	if n.leases == nil {
		return nil
	}
	return n
}

// Route implements api.Router: "" when this node serves the ledger (taking
// its lease when nobody holds it), else the owner's URL. A ledger that does
// not exist is served here, which reports it.
func (n *Node) Route(ctx context.Context, ledgerName string) (string, error) {
	meta, err := n.ledgers.Active(ledgerName)
	var qe *qldberr.Error
	if errors.As(err, &qe) {
		return "", nil // no such active ledger: served here, which reports it
	}
	if err != nil {
		// The catalogue could not be read (the store is unreachable): no
		// node can be chosen, and the caller answers a retryable error.
		return "", err
	}
	if n.leases.Holds(meta.ID) {
		return "", nil
	}
	lease, held, err := n.leases.Acquire(meta.ID)
	if errors.Is(err, cluster.ErrNotCatalogued) {
		return "", nil // deleted meanwhile: served here, which reports it
	}
	if err != nil {
		return "", err
	}
	if held {
		return "", nil
	}
	return lease.URL, nil
}

// ledgerGained starts delivering the journal streams of a ledger this node
// has just taken. Its session engine opens on first use, reading the
// journal as the previous owner left it.
func (n *Node) ledgerGained(ledgerID string) error {
	if err := n.streams.Adopt(ledgerID); err != nil {
		return err
	}
	return n.exports.Adopt(ledgerID)
}

// ledgerLost stops serving a ledger another node has taken: its sessions
// end and its streams stop (the new owner resumes them from their
// checkpoints).
func (n *Node) ledgerLost(ledgerID string) {
	n.log.Warn("lost a ledger's lease to another node", "ledger_id", ledgerID)
	n.sessions.Release(ledgerID)
	n.streams.Release(ledgerID)
	n.exports.Release(ledgerID)
}

// leaseCandidates lists the ledgers the lease keeper keeps owned by some
// node: every ledger of the catalogue.
func (n *Node) leaseCandidates() []string {
	ids := n.ledgers.IDs()
	out := make([]string, 0, len(ids))
	for id := range ids {
		out = append(out, id)
	}
	return out
}

// startLeases begins renewing and claiming leases, once the node knows
// where the others reach it.
func (n *Node) startLeases() {
	if n.leases == nil {
		return
	}
	if n.cfg.NodeURL == "" {
		n.leases.SetURL(n.URL())
		if host, _, err := net.SplitHostPort(n.cfg.Listen); err == nil {
			if ip := net.ParseIP(host); host == "" || host == "localhost" || (ip != nil && (ip.IsLoopback() || ip.IsUnspecified())) {
				n.log.Warn("shared store without --node-url: other nodes will reach this one at its listen address, which only works when they all run on this machine; set --node-url to an address they can reach (and that no other node uses)",
					"node_url", n.URL())
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.stopLeases = cancel
	n.leasesDone = make(chan struct{})
	go func() {
		defer close(n.leasesDone)
		n.leases.Run(ctx)
	}()
}

// stopLeasesLoop stops renewing; the leases themselves are given up by
// releaseLeases once the engines are closed.
func (n *Node) stopLeasesLoop() {
	if n.stopLeases != nil {
		n.stopLeases()
		<-n.leasesDone
		n.stopLeases = nil
	}
}

// releaseLeases hands this node's ledgers over at once (at shutdown, after
// the engines stopped writing), instead of making the others wait for the
// leases to expire.
func (n *Node) releaseLeases() {
	if n.leases == nil {
		return
	}
	if err := n.leases.ReleaseAll(); err != nil {
		n.log.Warn("could not release ledger leases; other nodes take them when they expire", "err", err)
	}
}

// forwardClient is the HTTP client that forwards requests to other nodes.
func forwardClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.ResponseHeaderTimeout = 2 * time.Minute
	return &http.Client{Transport: t}
}
