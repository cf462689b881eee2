package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// postAdmin sends an empty POST to path on a running server (strand backup,
// strand policy reload), signed with SigV4 as any QLDB client signs, with
// credentials from the standard AWS chain. It returns the response when
// the server answered 200 (the caller closes its body), and otherwise an
// error naming the AWS error type and Message the server gave; what names
// the request in that error.
func postAdmin(ctx context.Context, endpoint, path, region, what string) (*http.Response, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("no AWS credentials to sign with (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; any values for a server without credentials): %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(endpoint, "/")+path, http.NoBody)
	if err != nil {
		return nil, fmt.Errorf("--endpoint: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	empty := sha256.Sum256(nil)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(empty[:]), "qldb", region, time.Now()); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	var client interface {
		Do(*http.Request) (*http.Response, error)
	} = http.DefaultClient
	if cfg.HTTPClient != nil { // set by the configuration, e.g. for AWS_CA_BUNDLE
		client = cfg.HTTPClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"Message"`
	}
	if json.Unmarshal(raw, &e) != nil || e.Type == "" {
		return nil, fmt.Errorf("the server answered HTTP %d: %.200s", resp.StatusCode, raw)
	}
	return nil, fmt.Errorf("the server refused the %s: %s (HTTP %d): %s", what, e.Type, resp.StatusCode, e.Message)
}
