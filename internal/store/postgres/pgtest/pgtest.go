// Package pgtest gives tests a fresh PostgreSQL database each. The server
// is named by STRAND_TEST_POSTGRES_URL: the URL of a maintenance database
// (e.g. postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable) whose
// user may CREATE DATABASE. scripts/test.sh starts a private cluster and
// sets it (scripts/test-postgres.sh). Without it, tests that need
// PostgreSQL skip, except under CI (the CI variable set), where they fail:
// a CI run must never skip them silently.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL is the environment variable naming the maintenance database.
const EnvURL = "STRAND_TEST_POSTGRES_URL"

// URL returns the maintenance database's URL, skipping the test (failing
// it under CI) when EnvURL is unset.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("pgtest: %s is not set, and CI is: this test needs PostgreSQL (scripts/test.sh starts a private cluster and sets it)", EnvURL)
		}
		t.Skipf("pgtest: %s is not set: this test needs PostgreSQL (run it through scripts/test.sh, which starts a private cluster)", EnvURL)
	}
	return u
}

// NewDatabase creates an empty database for the test, dropped when the test
// ends (after the cleanups registered later, such as closing a store on
// it), and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := URL(t)
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", EnvURL, err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := "strand_test_" + hex.EncodeToString(rnd[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: connect to the maintenance database (%s): %v", EnvURL, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		// WITH (FORCE) (PostgreSQL 13+) ends connections a test left open.
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
				t.Errorf("pgtest: drop database %s: %v", name, err)
			}
		}
	})
	u.Path = "/" + name
	return u.String()
}
