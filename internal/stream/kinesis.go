package stream

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// KinesisAPI is the part of the Kinesis client a stream uses.
type KinesisAPI interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, opts ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

// Destination is a parsed Kinesis stream ARN.
type Destination struct {
	ARN     string
	Region  string
	Account string
	Name    string
}

var kinesisARN = regexp.MustCompile(`^arn:aws[a-z-]*:kinesis:([a-z0-9-]+):(\d{12}):stream/([A-Za-z0-9_.-]{1,128})$`)

// ParseDestination parses arn:aws:kinesis:<region>:<account>:stream/<name>.
func ParseDestination(arn string) (Destination, error) {
	m := kinesisARN.FindStringSubmatch(arn)
	if m == nil {
		return Destination{}, fmt.Errorf("%q is not a Kinesis data stream ARN (arn:aws:kinesis:<region>:<account>:stream/<name>)", arn)
	}
	return Destination{ARN: arn, Region: m[1], Account: m[2], Name: m[3]}, nil
}

var roleARN = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$`)

// ValidRoleARN reports whether s is an IAM role ARN.
func ValidRoleARN(s string) bool { return len(s) >= 20 && len(s) <= 1600 && roleARN.MatchString(s) }

// ClientFactory makes Kinesis clients for a destination region and role.
type ClientFactory interface {
	Client(ctx context.Context, region, roleARN string) (KinesisAPI, error)
}

// SDKClients makes real AWS SDK Kinesis clients. By default it takes the
// server's credentials from the standard chain and assumes the stream's
// RoleArn through STS, as QLDB did. With Endpoint set (a local emulator) it
// sends every call there and assumes no role unless AssumeRole is set.
type SDKClients struct {
	Endpoint    string
	AssumeRole  bool
	Credentials aws.CredentialsProvider // nil: the standard chain
	// WrapHTTPClient, when set, wraps the HTTP client each Kinesis client
	// would use (the one LoadDefaultConfig built, CA bundle included). The
	// server uses it to hide request bodies' WriteTo from net/http (see
	// internal/server/plainbody): without it a PutRecords answer can be cut
	// off mid-read and its records put twice.
	WrapHTTPClient func(aws.HTTPClient) aws.HTTPClient

	mu      sync.Mutex
	clients map[string]KinesisAPI
}

// Client implements ClientFactory; clients are cached per region and role.
// It fails with an error wrapping *CredentialsError when no credentials can
// be obtained (none configured, or the role cannot be assumed), and a
// cached client whose credentials later fail is forgotten, so that the
// next call loads the configuration again and picks up credentials that
// have appeared since (a shared credentials file written, an instance role
// attached).
func (f *SDKClients) Client(ctx context.Context, region, role string) (KinesisAPI, error) {
	assume := f.Endpoint == "" || f.AssumeRole
	key := region
	if assume {
		key += "|" + role
	}
	f.mu.Lock()
	c, ok := f.clients[key]
	f.mu.Unlock()
	if ok {
		return c, nil
	}
	cfg, err := f.load(ctx, region)
	if err != nil {
		return nil, err
	}
	if assume {
		stsClient := sts.NewFromConfig(cfg)
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, role, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "strand-journal-stream"
		}))
	}
	g := &guardedCredentials{inner: cfg.Credentials}
	cfg.Credentials = g
	if _, err := g.Retrieve(ctx); err != nil {
		return nil, err
	}
	kc := kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		if f.Endpoint != "" {
			o.BaseEndpoint = aws.String(f.Endpoint)
		}
		if f.WrapHTTPClient != nil {
			o.HTTPClient = f.WrapHTTPClient(o.HTTPClient)
		}
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.clients[key]; ok { // a concurrent call won
		return c, nil
	}
	if f.clients == nil {
		f.clients = map[string]KinesisAPI{}
	}
	f.clients[key] = kc
	g.forget = func() {
		f.mu.Lock()
		if f.clients[key] == kc {
			delete(f.clients, key)
		}
		f.mu.Unlock()
	}
	return kc, nil
}

func (f *SDKClients) load(ctx context.Context, region string) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if f.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(f.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("stream: AWS configuration: %w", err)
	}
	return cfg, nil
}

// CheckCredentials reports whether the server's own AWS credentials (the
// standard chain, or Credentials) can be obtained, without assuming any
// role. The server calls it at start-up to warn the operator.
func (f *SDKClients) CheckCredentials(ctx context.Context, region string) error {
	cfg, err := f.load(ctx, region)
	if err != nil {
		return err
	}
	_, err = (&guardedCredentials{inner: cfg.Credentials}).Retrieve(ctx)
	return err
}

// CredentialsError reports that no AWS credentials could be obtained for
// Kinesis calls: none are configured, or the stream's role could not be
// assumed. Streams show it as IMPAIRED with IAM_PERMISSION_REVOKED.
type CredentialsError struct{ Err error }

func (e *CredentialsError) Error() string {
	return "stream: no AWS credentials for Kinesis: " + e.Err.Error()
}

func (e *CredentialsError) Unwrap() error { return e.Err }

// guardedCredentials marks credential failures with *CredentialsError (the
// SDK reports them as untyped errors) and forgets the client they belong to.
type guardedCredentials struct {
	inner  aws.CredentialsProvider
	forget func() // set once the client is cached; nil before
}

func (g *guardedCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	if g.inner == nil {
		return aws.Credentials{}, &CredentialsError{Err: errors.New("no credential provider configured")}
	}
	c, err := g.inner.Retrieve(ctx)
	if err != nil {
		if g.forget != nil {
			g.forget()
		}
		return aws.Credentials{}, &CredentialsError{Err: err}
	}
	return c, nil
}

// listShards returns every open shard of the destination, following pages.
// The stream is named by both StreamName and StreamARN: kinesalite needs the
// name, kinesis-local and AWS take the ARN.
func listShards(ctx context.Context, c KinesisAPI, d Destination) ([]types.Shard, error) {
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(d.Name), StreamARN: aws.String(d.ARN)}
	for {
		out, err := c.ListShards(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, s := range out.Shards {
			if s.SequenceNumberRange == nil || s.SequenceNumberRange.EndingSequenceNumber == nil {
				shards = append(shards, s)
			}
		}
		if out.NextToken == nil || *out.NextToken == "" {
			return shards, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// Error causes of an IMPAIRED stream, as QLDB names them.
const (
	CauseNotFound     = "KINESIS_STREAM_NOT_FOUND"
	CausePermission   = "IAM_PERMISSION_REVOKED"
	throttleErrorCode = "ProvisionedThroughputExceededException"
)

// classify maps a Kinesis call error to an impairment cause ("" when the
// error is transient: network trouble, throttling, server errors).
func classify(err error) string {
	var ce *CredentialsError
	if errors.As(err, &ce) {
		return CausePermission
	}
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return CauseNotFound
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		switch {
		case code == "ResourceNotFoundException":
			return CauseNotFound
		case code == "AccessDeniedException", code == "UnrecognizedClientException", code == "InvalidSignatureException",
			code == "KMSAccessDeniedException", code == "ExpiredTokenException", strings.HasPrefix(code, "KMS"),
			code == "AccessDenied":
			return CausePermission
		}
	}
	return ""
}

// describeError renders a Kinesis error the way QLDB quoted it.
func describeError(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode() + " " + ae.ErrorMessage()
	}
	return err.Error()
}
