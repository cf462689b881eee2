package bench

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/qldbhash"
)

// leanClient speaks QLDBSession.SendCommand directly: hand-built JSON,
// SigV4 with a signing key derived once per day, HTTP/1.1 keep-alive, no
// SDK middleware, no retries. It is the load generator that costs the
// least client CPU, so that on a shared machine the server gets the cores.
type leanClient struct {
	hc                *http.Client
	url, host         string
	accessKey, secret string
	region            string

	mu      sync.Mutex
	keyDate string
	key     []byte
}

func newLeanClient(t *target, conc int) (*leanClient, error) {
	u, err := url.Parse(t.url)
	if err != nil {
		return nil, fmt.Errorf("bench: endpoint: %w", err)
	}
	tr := &http.Transport{MaxIdleConns: 2 * conc, MaxIdleConnsPerHost: 2 * conc, IdleConnTimeout: time.Minute, DisableCompression: true}
	return &leanClient{hc: &http.Client{Transport: tr}, url: t.url + "/", host: u.Host,
		accessKey: t.opts.AccessKey, secret: t.opts.Secret, region: t.opts.Region}, nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// signingKey returns the SigV4 key of date (yyyymmdd), derived once a day.
func (c *leanClient) signingKey(date string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keyDate != date {
		k := hmacSHA256([]byte("AWS4"+c.secret), date)
		k = hmacSHA256(k, c.region)
		k = hmacSHA256(k, "qldb")
		c.key, c.keyDate = hmacSHA256(k, "aws4_request"), date
	}
	return c.key
}

// errCommand is a SendCommand that the server answered with an error.
type errCommand struct {
	status int
	typ    string
	body   string
}

func (e *errCommand) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.status, e.typ, e.body)
}

// send posts one SendCommand body and returns the response body.
func (c *leanClient) send(ctx context.Context, body []byte) ([]byte, error) {
	now := time.Now().UTC()
	amzDate := now.Format("20060102T150405Z")
	date := amzDate[:8]
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	const signed = "content-type;host;x-amz-date;x-amz-target"
	canonical := "POST\n/\n\ncontent-type:application/x-amz-json-1.0\nhost:" + c.host + "\nx-amz-date:" + amzDate +
		"\nx-amz-target:QLDBSession.SendCommand\n\n" + signed + "\n" + payload
	csum := sha256.Sum256([]byte(canonical))
	scope := date + "/" + c.region + "/qldb/aws4_request"
	sts := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(csum[:])
	sig := hex.EncodeToString(hmacSHA256(c.signingKey(date), sts))

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header["Content-Type"] = []string{"application/x-amz-json-1.0"}
	req.Header["X-Amz-Date"] = []string{amzDate}
	req.Header["X-Amz-Target"] = []string{"QLDBSession.SendCommand"}
	req.Header["Authorization"] = []string{"AWS4-HMAC-SHA256 Credential=" + c.accessKey + "/" + scope + ", SignedHeaders=" + signed + ", Signature=" + sig}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &errCommand{status: resp.StatusCode, typ: resp.Header.Get("X-Amzn-ErrorType"), body: string(out)}
	}
	return out, nil
}

// stringField returns the value of the first JSON string member name in b
// (the session responses hold tokens and ids without escapes).
func stringField(b []byte, name string) (string, error) {
	key := `"` + name + `":"`
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return "", fmt.Errorf("bench: response has no %s: %.200s", name, b)
	}
	rest := b[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", fmt.Errorf("bench: response has a truncated %s", name)
	}
	return string(rest[:j]), nil
}

// leanSession commits single-statement transactions on one session.
type leanSession struct {
	c      *leanClient
	ledger string
	token  string
	// lastTx is the id of the last transaction exec committed.
	lastTx string
}

func (s *leanSession) start(ctx context.Context) error {
	b, err := s.c.send(ctx, []byte(`{"StartSession":{"LedgerName":"`+s.ledger+`"}}`))
	if err != nil {
		return err
	}
	s.token, err = stringField(b, "SessionToken")
	return err
}

// exec runs stmt with params (Ion values) in a transaction of its own and
// commits it with the driver's commit digest. It starts a session when it
// has none, and retries OCC conflicts and lost sessions a few times.
func (s *leanSession) exec(ctx context.Context, stmt string, params ...*ionvalue.Value) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = s.try(ctx, stmt, params); err == nil {
			return nil
		}
		var ce *errCommand
		if !errors.As(err, &ce) {
			return err
		}
		switch {
		case strings.HasSuffix(ce.typ, "InvalidSessionException"):
			s.token = ""
		case strings.HasSuffix(ce.typ, "OccConflictException"):
		default:
			return err
		}
	}
	return err
}

func (s *leanSession) try(ctx context.Context, stmt string, params []*ionvalue.Value) error {
	if s.token == "" {
		if err := s.start(ctx); err != nil {
			return err
		}
	}
	tok := `{"SessionToken":"` + s.token + `",`
	b, err := s.c.send(ctx, []byte(tok+`"StartTransaction":{}}`))
	if err != nil {
		return err
	}
	txID, err := stringField(b, "TransactionId")
	if err != nil {
		return err
	}
	var body strings.Builder
	body.WriteString(tok + `"ExecuteStatement":{"TransactionId":"` + txID + `","Statement":`)
	body.WriteString(strconv.Quote(stmt)) // statements here are ASCII: Go and JSON quoting agree
	body.WriteString(`,"Parameters":[`)
	for i, p := range params {
		bin, err := ionvalue.MarshalBinary(p)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		if i > 0 {
			body.WriteByte(',')
		}
		body.WriteString(`{"IonBinary":"` + base64.StdEncoding.EncodeToString(bin) + `"}`)
	}
	body.WriteString(`]}}`)
	if _, err := s.c.send(ctx, []byte(body.String())); err != nil {
		if ctx.Err() == nil {
			_, _ = s.c.send(ctx, []byte(tok+`"AbortTransaction":{}}`))
		}
		return err
	}
	d := qldbhash.NewCommitDigest(txID)
	d.Add(qldbhash.StatementHash(stmt, params))
	if _, err = s.c.send(ctx, []byte(tok+`"CommitTransaction":{"TransactionId":"`+txID+`","CommitDigest":"`+base64.StdEncoding.EncodeToString(d.Sum())+`"}}`)); err != nil {
		return err
	}
	s.lastTx = txID
	return nil
}
