// Package plainbody works around a race in the AWS SDK for Go v2 that makes
// net/http close a keep-alive connection under a response that is still
// being read (aws/aws-sdk-go-v2 issues 1825 and 2737).
//
// smithy-go wraps every request body in a reader that also has a WriteTo
// method, and closes that body as soon as the response headers arrive.
// net/http's transport, after writing a body of known length, drains it
// with io.Copy(io.Discard, body), which calls WriteTo; when the close came
// first, WriteTo reports io.EOF as an error. The transport takes that for a
// failed request write and closes the connection, and the caller, still
// reading the response body, gets "use of closed network connection" on an
// HTTP 200. On loopback and LAN latencies the server answers fast enough for
// this to happen on a fair share of requests; it fails the ones whose
// response body is longer than what the transport has already buffered,
// such as QLDB result pages.
//
// Client wraps an SDK client's HTTP client so that the transport sees the
// body as a plain io.ReadCloser: a Read after the close returns io.EOF,
// which io.Copy counts as success. Nothing else changes.
package plainbody

import (
	"io"
	"net/http"
)

// Doer is the HTTP client interface of every AWS SDK for Go v2 service
// client (aws.HTTPClient, qldbsession.HTTPClient, ...).
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Client is a Doer that hands request bodies to Next without their WriteTo
// method.
type Client struct {
	Next Doer
}

// Wrap returns next behind a Client; a nil next stands for a new
// http.Client with the default transport.
func Wrap(next Doer) *Client {
	if next == nil {
		next = &http.Client{}
	}
	return &Client{Next: next}
}

// Do sends a shallow copy of req through c.Next, its body reduced to Read
// and Close. req itself is not modified.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		req = req.WithContext(req.Context())
		req.Body = readCloser{req.Body}
	}
	return c.Next.Do(req)
}

// readCloser exposes only the Read and Close methods of the body it holds.
type readCloser struct{ io.ReadCloser }
