package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/strand-db/strand/internal/api/sigv4"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/policy"
	"github.com/strand-db/strand/internal/qldberr"
)

// Authorization with IAM-style policies (Options.Policies; see package
// policy and docs/permissions.md). Every request is authenticated first
// (SigV4); with policies configured it is then checked as the IAM action
// QLDB defined for it, on the resource ARN QLDB named for it, and refused
// with AccessDeniedException (403) unless a policy of the caller allows it
// and none denies it. Without policies nothing here runs.

// caller is the authenticated principal of a request.
type caller struct {
	accessKey string
	name      string // principal name: the credentials file's third field, or the access key id
}

type callerKey struct{}

func withCaller(ctx context.Context, c caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

func callerOf(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// policiesOn reports whether requests are checked against policies.
func (s *Handler) policiesOn() bool { return s.opts.Policies != nil }

// callerFor names the principal of an authenticated request.
func (s *Handler) callerFor(ah sigv4.Identity) caller {
	c := caller{accessKey: ah.Auth.AccessKey, name: ah.Auth.AccessKey}
	if n := s.opts.Principals[ah.Auth.AccessKey]; n != "" {
		c.name = n
	}
	return c
}

// principalARN is how AWS names a principal in its messages.
func (s *Handler) principalARN(c caller) string {
	return fmt.Sprintf("arn:aws:iam::%s:user/%s", s.opts.AccountID, c.name)
}

// TableTagger returns the tags of a table, for aws:ResourceTag conditions
// on table ARNs. Nil means no table has tags.
type TableTagger func(ledgerName, tableID string) (map[string]string, error)

// authorize decides action on resource for the request's caller, with
// cond supplying the request's own condition keys (aws:RequestTag/...,
// aws:TagKeys, iam:PassedToService; may be nil). aws:ResourceTag/... keys
// are looked up on the resource. It returns nil when allowed, or the
// AccessDeniedException to answer. It logs denials.
func (s *Handler) authorize(ctx context.Context, action, resource string, cond policy.MapContext) *qldberr.Error {
	if !s.policiesOn() {
		return nil
	}
	c := callerOf(ctx)
	docs := s.opts.Policies.Current().Policies(c.name, c.accessKey)
	rc := &requestContext{s: s, resource: resource, own: cond, caller: c}
	d := policy.Evaluate(docs, policy.Request{Action: action, Resource: resource, Context: rc})
	if d == policy.Allowed {
		return nil
	}
	s.log.Info("request denied by policy", "principal", c.name, "access_key_id", c.accessKey, "action", action, "resource", resource, "decision", d.String())
	msg := fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s", s.principalARN(c), action, resource)
	if d == policy.ExplicitDeny {
		msg += " with an explicit deny in an identity-based policy"
	}
	return qldberr.New(errAccessDenied, "%s", msg)
}

// requestContext supplies condition keys: the request's own (own), the
// caller's (aws:username), and the resource's tags, read only when a
// condition asks for them.
type requestContext struct {
	s        *Handler
	resource string
	own      policy.MapContext
	caller   caller
	tags     map[string]string
	loaded   bool
}

// Lookup implements policy.Context.
func (rc *requestContext) Lookup(key string) ([]string, bool) {
	k := policy.NormalizeKey(key)
	if v, ok := rc.own[k]; ok {
		return v, true
	}
	if k == "aws:username" {
		return []string{rc.caller.name}, true
	}
	if tag, ok := strings.CutPrefix(k, "aws:resourcetag/"); ok {
		if !rc.loaded {
			rc.tags, rc.loaded = rc.s.resourceTags(rc.resource), true
		}
		v, ok := rc.tags[tag]
		if !ok {
			return nil, false
		}
		return []string{v}, true
	}
	return nil, false
}

// resourceTags returns the tags of the resource an ARN names: a ledger, a
// stream, or a table (through Options.TableTags). A resource that does not
// exist, or cannot be read, has no tags.
func (s *Handler) resourceTags(arn string) map[string]string {
	if ledgerName, tableID, ok := parseTableARN(arn); ok {
		if s.opts.TableTags == nil {
			return nil
		}
		tags, err := s.opts.TableTags(ledgerName, tableID)
		if err != nil {
			return nil
		}
		return tags
	}
	a, err := ledger.ParseARN(arn)
	if err != nil {
		return nil
	}
	var tags map[string]string
	if a.StreamID != "" {
		tags, err = s.opts.Streams.Tags(a, arn)
	} else {
		tags, err = s.opts.Ledgers.Tags(a, arn)
	}
	if err != nil {
		return nil
	}
	return tags
}

// parseTableARN splits arn:aws:qldb:R:A:ledger/NAME/table/ID.
func parseTableARN(arn string) (ledgerName, tableID string, ok bool) {
	_, rest, found := strings.Cut(arn, ":ledger/")
	if !found {
		return "", "", false
	}
	ledgerName, tableID, found = strings.Cut(rest, "/table/")
	if !found || ledgerName == "" || tableID == "" || strings.Contains(tableID, "/") {
		return "", "", false
	}
	return ledgerName, tableID, true
}

// tagContext is the condition keys of a request that carries tags:
// aws:RequestTag/<key> for each, and aws:TagKeys.
func tagContext(tags map[string]*string, keys []string) policy.MapContext {
	m := policy.MapContext{}
	for k, v := range tags {
		if v != nil {
			m[policy.NormalizeKey("aws:RequestTag/"+k)] = []string{*v}
		}
		keys = append(keys, k)
	}
	if len(keys) > 0 {
		sort.Strings(keys)
		m["aws:tagkeys"] = keys
	}
	return m
}

// controlAction is the IAM action and resource of one control-plane
// request, and what else it needs.
type controlAction struct {
	action   string
	resource string
	cond     policy.MapContext
	roleARN  string // the RoleArn passed to QLDB: iam:PassRole is needed on it
}

// controlActionOf maps a routed control-plane request to its IAM action,
// as QLDB's service authorization reference lists them. ok is false for a
// request this table does not know (refused when policies are on).
func (s *Handler) controlActionOf(r *http.Request, segs []string, body []byte) (controlAction, bool) {
	ledgerARN := func(name string) string { return ledger.LedgerARN(s.opts.Region, s.opts.AccountID, name) }
	streamARN := func(name, id string) string { return ledger.StreamARN(s.opts.Region, s.opts.AccountID, name, id) }
	var in struct {
		Name    string             `json:"Name"`
		RoleArn string             `json:"RoleArn"`
		Tags    map[string]*string `json:"Tags"`
	}
	_ = json.Unmarshal(body, &in) // a malformed body is the handler's to report
	m := r.Method
	switch {
	case len(segs) == 1 && segs[0] == "ledgers":
		if m == http.MethodPost {
			return controlAction{action: "qldb:CreateLedger", resource: ledgerARN(in.Name), cond: tagContext(in.Tags, nil)}, true
		}
		return controlAction{action: "qldb:ListLedgers", resource: "*"}, true
	case len(segs) == 1 && segs[0] == "journal-s3-exports":
		return controlAction{action: "qldb:ListJournalS3Exports", resource: "*"}, true
	case len(segs) == 2 && segs[0] == "ledgers":
		a := map[string]string{http.MethodGet: "qldb:DescribeLedger", http.MethodPatch: "qldb:UpdateLedger", http.MethodDelete: "qldb:DeleteLedger"}[m]
		return controlAction{action: a, resource: ledgerARN(segs[1])}, a != ""
	case len(segs) == 3 && segs[0] == "ledgers":
		name := segs[1]
		switch segs[2] {
		case "permissions-mode":
			return controlAction{action: "qldb:UpdateLedgerPermissionsMode", resource: ledgerARN(name)}, true
		case "digest":
			return controlAction{action: "qldb:GetDigest", resource: ledgerARN(name)}, true
		case "block":
			return controlAction{action: "qldb:GetBlock", resource: ledgerARN(name)}, true
		case "revision":
			return controlAction{action: "qldb:GetRevision", resource: ledgerARN(name)}, true
		case "journal-kinesis-streams":
			// The stream does not exist yet (or the request covers them
			// all): its ARN with the id as a wildcard, as "table/*" is
			// CREATE TABLE's resource.
			if m == http.MethodPost {
				return controlAction{action: "qldb:StreamJournalToKinesis", resource: streamARN(name, "*"),
					cond: tagContext(in.Tags, nil), roleARN: in.RoleArn}, true
			}
			return controlAction{action: "qldb:ListJournalKinesisStreamsForLedger", resource: streamARN(name, "*")}, true
		case "journal-s3-exports":
			// ExportJournalToS3 passes a role like a stream does.
			if m == http.MethodPost {
				return controlAction{action: "qldb:ExportJournalToS3", resource: ledgerARN(name), roleARN: in.RoleArn}, true
			}
			return controlAction{action: "qldb:ListJournalS3ExportsForLedger", resource: ledgerARN(name)}, true
		}
	case len(segs) == 4 && segs[0] == "ledgers" && segs[2] == "journal-kinesis-streams":
		a := map[string]string{http.MethodGet: "qldb:DescribeJournalKinesisStream", http.MethodDelete: "qldb:CancelJournalKinesisStream"}[m]
		return controlAction{action: a, resource: streamARN(segs[1], segs[3])}, a != ""
	case len(segs) == 4 && segs[0] == "ledgers" && segs[2] == "journal-s3-exports":
		return controlAction{action: "qldb:DescribeJournalS3Export", resource: ledgerARN(segs[1])}, true
	case len(segs) == 2 && segs[0] == "tags":
		switch m {
		case http.MethodGet:
			return controlAction{action: "qldb:ListTagsForResource", resource: segs[1]}, true
		case http.MethodPost:
			return controlAction{action: "qldb:TagResource", resource: segs[1], cond: tagContext(in.Tags, nil)}, true
		case http.MethodDelete:
			return controlAction{action: "qldb:UntagResource", resource: segs[1], cond: tagContext(nil, r.URL.Query()["tagKeys"])}, true
		}
	}
	return controlAction{}, false
}

// authorizeControl checks a routed control-plane request against the
// policies: its own action, and iam:PassRole on a role it passes to QLDB
// (StreamJournalToKinesis, ExportJournalToS3), as QLDB required.
func (s *Handler) authorizeControl(r *http.Request, segs []string, body []byte) *qldberr.Error {
	if !s.policiesOn() {
		return nil
	}
	ca, ok := s.controlActionOf(r, segs, body)
	if !ok {
		c := callerOf(r.Context())
		return qldberr.New(errAccessDenied, "User: %s is not authorized to perform %s %s: no IAM action is defined for it", s.principalARN(c), r.Method, r.URL.Path)
	}
	if err := s.authorize(r.Context(), ca.action, ca.resource, ca.cond); err != nil {
		return err
	}
	if ca.roleARN != "" {
		return s.authorize(r.Context(), "iam:PassRole", ca.roleARN, policy.MapContext{"iam:passedtoservice": {"qldb.amazonaws.com"}})
	}
	return nil
}
