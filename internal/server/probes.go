package server

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Paths of the node's probes, served on the listen address (and on the
// metrics address) without authentication. No QLDB operation lives there:
// the control plane is under /ledgers and /tags, the session API is POST /.
const (
	HealthPath = "/health" // liveness: the process serves requests
	ReadyPath  = "/ready"  // readiness: the store is open and accepts writes, every ledger is healthy
)

// probeAnswer is the JSON body of both probes.
type probeAnswer struct {
	Status   string   `json:"status"` // "ok", "ready" or "not ready"
	Problems []string `json:"problems,omitempty"`
}

// withProbes serves GET and HEAD of HealthPath and ReadyPath itself and
// passes every other request to next.
func (n *Node) withProbes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && (r.URL.Path == HealthPath || r.URL.Path == ReadyPath) {
			n.serveProbe(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (n *Node) serveProbe(w http.ResponseWriter, r *http.Request) {
	status, ans := http.StatusOK, probeAnswer{Status: "ok"}
	if r.URL.Path == ReadyPath {
		if problems := n.NotReady(); len(problems) > 0 {
			status, ans = http.StatusServiceUnavailable, probeAnswer{Status: "not ready", Problems: problems}
		} else {
			ans.Status = "ready"
		}
	}
	b, _ := json.Marshal(ans)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(append(b, '\n'))
	}
}

// storeFailure is a store that can be in a failed state: after a write to
// disk failed it refuses every write until it is reopened (the embedded
// store's Failure).
type storeFailure interface{ Failure() error }

// NotReady lists why the node should not be sent traffic (nil when it
// should): the store is closed, or refuses writes after a failed write to
// disk, or a ledger met on-disk corruption. The problems name no ledger
// (the probe is unauthenticated); the log and the strand_ledger_healthy
// metric do.
func (n *Node) NotReady() []string {
	var problems []string
	if n.closed.Load() {
		return []string{"the node is shutting down"}
	}
	if n.failure != nil && n.failure.Failure() != nil {
		problems = append(problems, "the store refuses writes after a failed write to disk; restart the server (see the log)")
	}
	damaged := 0
	for _, h := range n.ledgers.HealthAll() {
		if !h.Healthy {
			damaged++
		}
	}
	if damaged > 0 {
		problems = append(problems, fmt.Sprintf("%d ledger(s) met on-disk corruption (see strand_ledger_healthy and the log; strand verify)", damaged))
	}
	return problems
}
