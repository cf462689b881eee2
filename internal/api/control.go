package api

import (
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/qldberr"
)

// epochSeconds is a rest-json timestamp: a JSON number of seconds since the
// Unix epoch, with millisecond precision.
type epochSeconds time.Time

// MarshalJSON implements json.Marshaler.
func (t epochSeconds) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)), nil
}

func epochPtr(t time.Time) *epochSeconds { e := epochSeconds(t); return &e }

// controlHandler serves one control-plane operation. params are the
// unescaped path segments matched by the route's wildcards.
type controlHandler func(r *http.Request, params []string, body []byte) (any, error)

type route struct {
	pattern []string // literal segments, or "*" for a parameter
	methods map[string]controlHandler
}

func (s *Handler) controlRoutes() []route {
	return []route{
		{[]string{"ledgers"}, map[string]controlHandler{http.MethodPost: s.createLedger, http.MethodGet: s.listLedgers}},
		{[]string{"ledgers", "*"}, map[string]controlHandler{http.MethodGet: s.describeLedger, http.MethodPatch: s.updateLedger, http.MethodDelete: s.deleteLedger}},
		{[]string{"ledgers", "*", "permissions-mode"}, map[string]controlHandler{http.MethodPatch: s.updatePermissionsMode}},
		{[]string{"ledgers", "*", "digest"}, map[string]controlHandler{http.MethodPost: s.getDigest}},
		{[]string{"ledgers", "*", "block"}, map[string]controlHandler{http.MethodPost: s.getBlock}},
		{[]string{"ledgers", "*", "revision"}, map[string]controlHandler{http.MethodPost: s.getRevision}},
		{[]string{"ledgers", "*", "journal-kinesis-streams"}, map[string]controlHandler{http.MethodPost: s.streamJournalToKinesis, http.MethodGet: s.listJournalKinesisStreams}},
		{[]string{"ledgers", "*", "journal-kinesis-streams", "*"}, map[string]controlHandler{http.MethodGet: s.describeJournalKinesisStream, http.MethodDelete: s.cancelJournalKinesisStream}},
		{[]string{"ledgers", "*", "journal-s3-exports"}, map[string]controlHandler{http.MethodPost: s.exportJournalToS3, http.MethodGet: s.listJournalS3ExportsForLedger}},
		{[]string{"ledgers", "*", "journal-s3-exports", "*"}, map[string]controlHandler{http.MethodGet: s.describeJournalS3Export}},
		{[]string{"journal-s3-exports"}, map[string]controlHandler{http.MethodGet: s.listJournalS3Exports}},
		{[]string{"tags", "*"}, map[string]controlHandler{http.MethodGet: s.listTags, http.MethodPost: s.tagResource, http.MethodDelete: s.untagResource}},
	}
}

// splitPath returns the unescaped segments of the request path.
func splitPath(r *http.Request) ([]string, bool) {
	raw := strings.Trim(r.URL.EscapedPath(), "/")
	if raw == "" {
		return nil, true
	}
	parts := strings.Split(raw, "/")
	for i, p := range parts {
		u, err := url.PathUnescape(p)
		if err != nil {
			return nil, false
		}
		parts[i] = u
	}
	return parts, true
}

func (s *Handler) serveControl(w http.ResponseWriter, r *http.Request, body []byte) {
	segs, ok := splitPath(r)
	if !ok {
		writeError(w, restJSON, qldberr.New(errSerialization, "The request path is not validly escaped"))
		return
	}
	for _, rt := range s.routes {
		params, ok := match(rt.pattern, segs)
		if !ok {
			continue
		}
		setOperation(w, controlOperation(rt.pattern, r.Method))
		h, ok := rt.methods[r.Method]
		if !ok {
			allowed := make([]string, 0, len(rt.methods))
			for m := range rt.methods {
				allowed = append(allowed, m)
			}
			sort.Strings(allowed)
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeError(w, restJSON, qldberr.New(errMethodNotAllowed, "%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allowed, " or ")))
			return
		}
		if aerr := s.authorizeControl(r, segs, body); aerr != nil {
			writeError(w, restJSON, aerr)
			return
		}
		if name := controlLedger(segs); name != "" && s.dispatch(w, r, body, name, kindControl) {
			return
		}
		if len(body) > 0 {
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || (mt != restJSON && mt != "application/x-amz-json-1.1") {
				writeError(w, restJSON, qldberr.New(errUnsupportedMedia, "Content-Type must be application/json, got %q", r.Header.Get("Content-Type")))
				return
			}
		}
		out, err := h(r, params, body)
		if err != nil {
			writeError(w, restJSON, s.toAWSError(err))
			return
		}
		writeJSON(w, restJSON, out)
		return
	}
	writeError(w, restJSON, qldberr.New(errUnknownOperation, "No QLDB operation is served at %s %s", r.Method, r.URL.Path))
}

func match(pattern, segs []string) ([]string, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	var params []string
	for i, p := range pattern {
		switch {
		case p == "*":
			if segs[i] == "" {
				return nil, false
			}
			params = append(params, segs[i])
		case p != segs[i]:
			return nil, false
		}
	}
	return params, true
}

// ---- ledgers ----

type createLedgerRequest struct {
	Name               string             `json:"Name"`
	PermissionsMode    string             `json:"PermissionsMode"`
	DeletionProtection *bool              `json:"DeletionProtection"`
	KmsKey             *string            `json:"KmsKey"`
	Tags               map[string]*string `json:"Tags"`
}

type createLedgerResponse struct {
	Name               string        `json:"Name"`
	Arn                string        `json:"Arn"`
	State              string        `json:"State"`
	CreationDateTime   *epochSeconds `json:"CreationDateTime"`
	PermissionsMode    string        `json:"PermissionsMode"`
	DeletionProtection bool          `json:"DeletionProtection"`
	KmsKeyArn          string        `json:"KmsKeyArn,omitempty"`
}

type encryptionDescription struct {
	KmsKeyArn        string `json:"KmsKeyArn"`
	EncryptionStatus string `json:"EncryptionStatus"`
}

type describeLedgerResponse struct {
	Name                  string                 `json:"Name"`
	Arn                   string                 `json:"Arn"`
	State                 string                 `json:"State"`
	CreationDateTime      *epochSeconds          `json:"CreationDateTime"`
	PermissionsMode       string                 `json:"PermissionsMode,omitempty"`
	DeletionProtection    bool                   `json:"DeletionProtection"`
	EncryptionDescription *encryptionDescription `json:"EncryptionDescription,omitempty"`
}

func describeOf(l ledger.Entry) describeLedgerResponse {
	return describeLedgerResponse{
		Name: l.Name, Arn: l.ARN, State: l.State, CreationDateTime: epochPtr(l.CreationTime),
		PermissionsMode: l.PermissionsMode, DeletionProtection: l.DeletionProtection,
		EncryptionDescription: &encryptionDescription{KmsKeyArn: l.KmsKeyARN, EncryptionStatus: "ENABLED"},
	}
}

func (s *Handler) createLedger(r *http.Request, _ []string, body []byte) (any, error) {
	var in createLedgerRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	l, err := s.opts.Ledgers.Create(ledger.CreateInput{
		Name: in.Name, PermissionsMode: in.PermissionsMode, DeletionProtection: in.DeletionProtection,
		KmsKey: in.KmsKey, Tags: in.Tags,
	}, s.opts.Now())
	if err != nil {
		return nil, err
	}
	out := createLedgerResponse{
		Name: l.Name, Arn: l.ARN, State: l.State, CreationDateTime: epochPtr(l.CreationTime),
		PermissionsMode: l.PermissionsMode, DeletionProtection: l.DeletionProtection,
	}
	if l.CustomerKey() {
		out.KmsKeyArn = l.KmsKeyARN
	}
	return out, nil
}

func (s *Handler) describeLedger(_ *http.Request, p []string, _ []byte) (any, error) {
	l, err := s.opts.Ledgers.Describe(p[0])
	if err != nil {
		return nil, err
	}
	return describeOf(l), nil
}

type ledgerSummary struct {
	Name             string        `json:"Name"`
	State            string        `json:"State"`
	CreationDateTime *epochSeconds `json:"CreationDateTime"`
}

type listLedgersResponse struct {
	Ledgers   []ledgerSummary `json:"Ledgers"`
	NextToken string          `json:"NextToken,omitempty"`
}

// pageParams reads the max_results and next_token query parameters.
func pageParams(r *http.Request) (int, string, error) {
	q := r.URL.Query()
	max := 0
	if v := q.Get("max_results"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return 0, "", qldberr.Invalid("MaxResults", "MaxResults must be an integer between 1 and 100, got %q", v)
		}
		max = n
	}
	tok := q.Get("next_token")
	if _, ok := q["next_token"]; ok && (len(tok) < 4 || len(tok) > 1024) {
		return 0, "", qldberr.Invalid("NextToken", "NextToken must be 4 to 1024 characters")
	}
	return max, tok, nil
}

func (s *Handler) listLedgers(r *http.Request, _ []string, _ []byte) (any, error) {
	max, tok, err := pageParams(r)
	if err != nil {
		return nil, err
	}
	ls, next, err := s.opts.Ledgers.List(max, tok)
	if err != nil {
		return nil, err
	}
	out := listLedgersResponse{Ledgers: make([]ledgerSummary, len(ls)), NextToken: next}
	for i, l := range ls {
		out.Ledgers[i] = ledgerSummary{Name: l.Name, State: l.State, CreationDateTime: epochPtr(l.CreationTime)}
	}
	return out, nil
}

type updateLedgerRequest struct {
	DeletionProtection *bool   `json:"DeletionProtection"`
	KmsKey             *string `json:"KmsKey"`
}

func (s *Handler) updateLedger(_ *http.Request, p []string, body []byte) (any, error) {
	var in updateLedgerRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	l, err := s.opts.Ledgers.Update(p[0], in.DeletionProtection, in.KmsKey)
	if err != nil {
		return nil, err
	}
	out := describeOf(l)
	out.PermissionsMode = "" // UpdateLedger's output has no PermissionsMode member
	return out, nil
}

type permissionsModeRequest struct {
	PermissionsMode string `json:"PermissionsMode"`
}

type permissionsModeResponse struct {
	Name            string `json:"Name"`
	Arn             string `json:"Arn"`
	PermissionsMode string `json:"PermissionsMode"`
}

func (s *Handler) updatePermissionsMode(_ *http.Request, p []string, body []byte) (any, error) {
	var in permissionsModeRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	l, err := s.opts.Ledgers.UpdatePermissionsMode(p[0], in.PermissionsMode)
	if err != nil {
		return nil, err
	}
	return permissionsModeResponse{Name: l.Name, Arn: l.ARN, PermissionsMode: l.PermissionsMode}, nil
}

type empty struct{}

func (s *Handler) deleteLedger(_ *http.Request, p []string, _ []byte) (any, error) {
	if err := s.opts.Ledgers.Delete(p[0]); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// ---- tags ----

type tagsBody struct {
	Tags map[string]*string `json:"Tags"`
}

type tagsResponse struct {
	Tags map[string]string `json:"Tags"`
}

// taggable is what TagResource and friends act on: the ledger catalogue for
// ledger ARNs, the stream manager for stream ARNs, the session engine for
// table ARNs (a table's tags live with the ledger's data).
type taggable interface {
	Tag(a ledger.ARN, raw string, tags map[string]*string) error
	Untag(a ledger.ARN, raw string, keys []string) error
	Tags(a ledger.ARN, raw string) (map[string]string, error)
}

func (s *Handler) resourceARN(raw string) (ledger.ARN, taggable, error) {
	a, err := ledger.ParseARN(raw)
	if err != nil {
		return ledger.ARN{}, nil, err
	}
	if a.StreamID != "" {
		return a, s.opts.Streams, nil
	}
	if a.TableID != "" {
		return a, s.opts.Sessions, nil
	}
	return a, s.opts.Ledgers, nil
}

func (s *Handler) listTags(_ *http.Request, p []string, _ []byte) (any, error) {
	a, res, err := s.resourceARN(p[0])
	if err != nil {
		return nil, err
	}
	tags, err := res.Tags(a, p[0])
	if err != nil {
		return nil, err
	}
	if tags == nil {
		tags = map[string]string{}
	}
	return tagsResponse{Tags: tags}, nil
}

func (s *Handler) tagResource(_ *http.Request, p []string, body []byte) (any, error) {
	var in tagsBody
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	a, res, err := s.resourceARN(p[0])
	if err != nil {
		return nil, err
	}
	if in.Tags == nil {
		return nil, qldberr.Invalid("Tags", "Tags is required")
	}
	if err := res.Tag(a, p[0], in.Tags); err != nil {
		return nil, err
	}
	return empty{}, nil
}

func (s *Handler) untagResource(r *http.Request, p []string, _ []byte) (any, error) {
	a, res, err := s.resourceARN(p[0])
	if err != nil {
		return nil, err
	}
	keys := r.URL.Query()["tagKeys"]
	if err := res.Untag(a, p[0], keys); err != nil {
		return nil, err
	}
	return empty{}, nil
}
