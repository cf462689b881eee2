package kinesisemu

import (
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/strand-db/strand/internal/server/plainbody"
)

// newTransport returns an HTTP transport for emulators: no proxy, keep-alive.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        100,
		MaxIdleConnsPerHost: 100,
		IdleConnTimeout:     90 * time.Second,
	}
}

// configWith returns the aws.Config of Config using transport tr.
func configWith(region string, tr *http.Transport) aws.Config {
	return aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		HTTPClient:  plainbody.Wrap(&http.Client{Transport: tr}),
	}
}

// Config returns an aws.Config for talking to an emulator in region: static
// credentials (AccessKeyID, SecretAccessKey), the SDK's standard retryer and
// an HTTP client of its own that uses no proxy, behind plainbody so that
// long GetRecords answers are never cut. It is built by hand, without
// shared config files, so AWS_* environment variables (AWS_CA_BUNDLE,
// AWS_PROFILE, AWS_REGION, ...) have no effect. Set BaseEndpoint on the
// result, or on the service client's options, to choose the endpoint.
func Config(region string) aws.Config {
	return configWith(region, newTransport())
}

// NewClient returns a Kinesis client for endpoint (for example an
// Emulator's Endpoint or a faultproxy URL) built from Config(region).
// optFns are applied last.
func NewClient(endpoint, region string, optFns ...func(*kinesis.Options)) *kinesis.Client {
	cfg := Config(region)
	cfg.BaseEndpoint = aws.String(endpoint)
	return kinesis.NewFromConfig(cfg, optFns...)
}

// config is Config(e.Region) with a transport the emulator can close the
// idle connections of before it stops (see Stop).
func (e *Emulator) config(endpoint string) aws.Config {
	tr := newTransport()
	e.mu.Lock()
	e.transports = append(e.transports, tr)
	e.mu.Unlock()
	cfg := configWith(e.Region, tr)
	cfg.BaseEndpoint = aws.String(endpoint)
	return cfg
}

// AWSConfig returns a Config(e.Region) with BaseEndpoint set to e.Endpoint,
// for code under test that builds its own clients.
func (e *Emulator) AWSConfig() aws.Config {
	return e.config(e.Endpoint)
}

// ClientFor returns a Kinesis client in the emulator's region for another
// endpoint, typically a faultproxy in front of the emulator. optFns are
// applied last, e.g. func(o *kinesis.Options) { o.RetryMaxAttempts = 1 }.
func (e *Emulator) ClientFor(endpoint string, optFns ...func(*kinesis.Options)) *kinesis.Client {
	return kinesis.NewFromConfig(e.config(endpoint), optFns...)
}
