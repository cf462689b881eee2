package server

import (
	"context"
	"fmt"
	"time"
)

// Summary is the start-up summary strand serve prints once the node
// listens: one "name: value" line for each thing an operator needs to
// know (listen address, store, authentication, Kinesis, metrics, health
// endpoints). The first line is always "listening on URL".
func (n *Node) Summary() []string {
	lines := []string{
		"listening on " + n.URL(),
		n.StoreDescription(),
		"authentication: " + n.AuthMode(),
		"authorization: " + n.PolicyMode(),
		"kinesis: " + n.KinesisDescription(),
	}
	if kc := n.KinesisCredentials(); kc != "" {
		lines = append(lines, "kinesis credentials: "+kc)
	}
	metrics := "off (set --metrics-listen to serve Prometheus metrics)"
	if u := n.MetricsURL(); u != "" {
		metrics = u
	}
	lines = append(lines, "metrics: "+metrics)
	return lines
}

// KinesisDescription says where journal streams deliver: the emulator
// endpoint of --kinesis-endpoint, or real AWS through STS.
func (n *Node) KinesisDescription() string {
	if n.cfg.KinesisEndpoint == "" {
		return "real AWS via STS (Strand's credentials from the standard AWS chain assume each stream's RoleArn; the region comes from the stream ARN)"
	}
	if n.cfg.AssumeRole {
		return fmt.Sprintf("endpoint %s (each stream's RoleArn assumed through STS)", n.cfg.KinesisEndpoint)
	}
	return fmt.Sprintf("endpoint %s (no role assumption)", n.cfg.KinesisEndpoint)
}

// WarnUnreachableStreams tries once to reach the destination of every live
// journal stream with the credentials at hand and logs a warning for each
// that cannot be reached, naming the ledger, the stream and why. It waits
// at most timeout, returns how many streams it warned about, and changes
// nothing: the streams keep retrying. strand serve runs it in the
// background after start-up.
func (n *Node) WarnUnreachableStreams(timeout time.Duration) int {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	bad := n.streams.CheckDestinations(ctx)
	for _, u := range bad {
		n.log.Warn("journal stream destination cannot be reached with the credentials at hand; the stream retries and shows IMPAIRED until it can",
			"ledger", u.LedgerName, "stream_id", u.StreamID, "stream_name", u.StreamName, "destination", u.Destination,
			"error_cause", u.Cause, "err", u.Err)
	}
	return len(bad)
}
