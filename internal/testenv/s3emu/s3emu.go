// Package s3emu starts a local S3-compatible server for tests: npm's s3rver
// 3.7.1, installed into tools/s3 by scripts/test.sh (pinned by
// tools/s3/package-lock.json), on 127.0.0.1 and a free port, with the
// buckets a test asks for. It is stopped (its process group killed) in
// t.Cleanup, and its output is logged if the test failed.
//
// s3rver accepts only the access key S3RVER (secret S3RVER): clients built
// here and the Credentials provider use it. Node runs with
// --openssl-legacy-provider, without which s3rver's paged listings fail
// (it encrypts continuation tokens with single DES).
package s3emu

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The only credentials s3rver accepts.
const (
	AccessKeyID     = "S3RVER"
	SecretAccessKey = "S3RVER"
	Region          = "us-east-1"
)

// Credentials returns a provider of the credentials s3rver accepts.
func Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")
}

// Server is a running s3rver.
type Server struct {
	Endpoint string // http://127.0.0.1:<port>
	Dir      string // where it keeps the objects
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func toolsDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "tools", "s3")
}

// Start runs s3rver with the given buckets.
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	bin := filepath.Join(toolsDir(), "node_modules", "s3rver", "bin", "s3rver.js")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("s3rver is not installed (%v): run scripts/test.sh once, or npm ci in tools/s3", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH: %v", err)
	}
	port := freePort(t)
	dir := t.TempDir()
	args := []string{"--openssl-legacy-provider", bin, "-d", dir, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "--silent"}
	for _, b := range buckets {
		args = append(args, "--configure-bucket", b)
	}
	cmd := exec.Command(node, args...)
	out := &syncBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start s3rver: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		killGroup(cmd)
		<-exited
		if t.Failed() {
			t.Logf("s3rver output:\n%s", out.String())
		}
	})
	s := &Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), Dir: dir}
	deadline := time.Now().Add(60 * time.Second)
	c := s.Client()
	for {
		_, err := c.ListBuckets(context.Background(), &s3.ListBucketsInput{})
		if err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("s3rver exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("s3rver not ready: %v\n%s", err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Client returns an S3 client for the server: path-style addressing,
// checksums only when required, s3rver's credentials, no shared config.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:                     Region,
		Credentials:                Credentials(),
		BaseEndpoint:               aws.String(s.Endpoint),
		UsePathStyle:               true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		HTTPClient:                 &http.Client{Transport: &http.Transport{Proxy: nil}},
	})
}

// Get reads one object.
func (s *Server) Get(t testing.TB, bucket, key string) []byte {
	t.Helper()
	out, err := s.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get s3://%s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Keys lists every key under prefix, in S3's (lexicographic) order.
func (s *Server) Keys(t testing.TB, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.Client(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list s3://%s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}
