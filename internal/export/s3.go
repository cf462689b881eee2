package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// S3API is the part of the S3 client an export job uses: it only writes
// objects, as QLDB's export role only needed s3:PutObject.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// ClientFactory makes S3 clients for a region and an export's role.
type ClientFactory interface {
	Client(ctx context.Context, region, roleARN string) (S3API, error)
}

// SDKClients makes AWS SDK S3 clients. By default it takes the server's
// credentials from the standard chain and assumes the export's RoleArn
// through STS, as QLDB did. With Endpoint set (any S3-compatible server) it
// sends every call there with path-style addressing, computes request
// checksums only when an operation requires them, and assumes no role
// unless AssumeRole is set.
type SDKClients struct {
	Endpoint    string
	AssumeRole  bool
	Credentials aws.CredentialsProvider // nil: the standard chain
	// WrapHTTPClient, when set, wraps the HTTP client of each S3 client.
	WrapHTTPClient func(aws.HTTPClient) aws.HTTPClient

	mu      sync.Mutex
	clients map[string]*s3.Client
}

// Client implements ClientFactory; clients are cached per region and role.
func (f *SDKClients) Client(ctx context.Context, region, role string) (S3API, error) {
	return f.client(ctx, region, role)
}

// Reader returns a client that can also list and read objects, for
// `strand import` (no role is assumed: the caller's own credentials read
// the export).
func (f *SDKClients) Reader(ctx context.Context, region string) (*s3.Client, error) {
	return f.client(ctx, region, "")
}

func (f *SDKClients) client(ctx context.Context, region, role string) (*s3.Client, error) {
	assume := role != "" && (f.Endpoint == "" || f.AssumeRole)
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
	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if f.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(f.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("export: AWS configuration: %w", err)
	}
	if assume {
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), role, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "strand-journal-export"
		}))
	}
	if cfg.Credentials == nil {
		return nil, errors.New("export: no AWS credentials configured")
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("export: no AWS credentials for S3: %w", err)
	}
	c = s3.NewFromConfig(cfg, func(o *s3.Options) {
		if f.Endpoint != "" {
			o.BaseEndpoint = aws.String(f.Endpoint)
			o.UsePathStyle = true
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
		if f.WrapHTTPClient != nil {
			o.HTTPClient = f.WrapHTTPClient(o.HTTPClient)
		}
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	if prev, ok := f.clients[key]; ok {
		return prev, nil
	}
	if f.clients == nil {
		f.clients = map[string]*s3.Client{}
	}
	f.clients[key] = c
	return c, nil
}

// putObject writes one object of job j with its encryption settings.
func putObject(ctx context.Context, c S3API, j *Job, key string, body []byte) error {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(j.Bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String(contentType(j.Format)),
	}
	switch j.Encryption {
	case EncryptionSSES3:
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	case EncryptionKMS:
		in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = aws.String(j.KmsKeyARN)
	}
	_, err := c.PutObject(ctx, in)
	return err
}

// permanent reports whether an S3 error will not go away by retrying: the
// bucket is gone, access is denied, the credentials or the key are refused.
// A job meeting one is CANCELLED.
func permanent(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch code := ae.ErrorCode(); {
		case code == "NoSuchBucket", code == "AccessDenied", code == "InvalidAccessKeyId", code == "SignatureDoesNotMatch",
			code == "AllAccessDisabled", code == "AccountProblem", code == "InvalidBucketName", code == "KMS.NotFoundException",
			strings.HasPrefix(code, "KMS."), code == "InvalidArgument":
			return true
		}
	}
	return false
}

// describeError renders an S3 error as QLDB quoted it: "errorCode errorMessage".
func describeError(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode() + " " + ae.ErrorMessage()
	}
	return err.Error()
}
