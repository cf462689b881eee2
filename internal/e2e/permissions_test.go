package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/qldb"
	qldbtypes "github.com/aws/aws-sdk-go-v2/service/qldb/types"
	"github.com/awslabs/amazon-qldb-driver-go/v3/qldbdriver"

	"github.com/strand-db/strand/internal/api"
	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/server/servertest"
)

// A policy matrix through real clients (docs/permissions.md): the AWS SDK
// for the control plane, the QLDB Go driver for sessions, against a node
// started with --credentials-file (principal names in the third field) and
// --policy-file.

// permKeys are the test principals: access key id = "AKID" + upper-cased
// name, secret = name + "-secret".
var permPrincipals = []string{"admin", "ops", "auditor", "app", "streamer", "passer", "tagged",
	"only-CreateTable", "only-DropTable", "only-UndropTable", "only-CreateIndex", "only-DropIndex",
	"only-Insert", "only-Update", "only-Delete", "only-Select", "only-HistoryFunction", "only-Redact"}

func permKey(name string) (id, secret string) {
	return "AKID" + strings.ToUpper(strings.ReplaceAll(name, "-", "")), name + "-secret"
}

// permEnv is a running node with policies, and the ids of its tables.
type permEnv struct {
	n         *servertest.Node
	policyDir string
	ledgerARN string
	ids       map[string]string // table name -> table id (Gone, Gone2: dropped)
	indexID   map[string]string // table name -> id of its index on "model"
}

func (e *permEnv) qldb(principal string) *qldb.Client {
	id, secret := permKey(principal)
	return e.n.QLDB(id, secret)
}

func (e *permEnv) driver(t *testing.T, principal, ledgerName string) *qldbdriver.QLDBDriver {
	t.Helper()
	id, secret := permKey(principal)
	drv, err := qldbdriver.New(ledgerName, e.n.Session(id, secret), func(o *qldbdriver.DriverOptions) {
		o.LoggerVerbosity = qldbdriver.LogOff
	})
	if err != nil {
		t.Fatal(err)
	}
	drv.SetRetryPolicy(qldbdriver.RetryPolicy{MaxRetryLimit: 0})
	t.Cleanup(func() { drv.Shutdown(context.Background()) })
	return drv
}

func (e *permEnv) tableARN(name string) string { return e.ledgerARN + "/table/" + e.ids[name] }

// writePolicies writes the policy file (one file of the policy directory).
func (e *permEnv) writePolicies(t *testing.T, policies map[string]any) {
	t.Helper()
	b, err := json.MarshalIndent(policies, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.policyDir, "policies.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// reload asks the node to reload its policies through POST
// /strand/policy/reload, signed by principal; it returns the HTTP status
// and body.
func (e *permEnv) reload(t *testing.T, principal string) (int, string) {
	t.Helper()
	id, secret := permKey(principal)
	req, err := http.NewRequest(http.MethodPost, e.n.URL()+api.PolicyReloadPath, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	empty := sha256.Sum256(nil)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: id, SecretAccessKey: secret},
		req, hex.EncodeToString(empty[:]), "qldb", e.n.Config.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func stmt(effect string, actions any, resources any) map[string]any {
	return map[string]any{"Effect": effect, "Action": actions, "Resource": resources}
}

func doc(stmts ...map[string]any) map[string]any {
	return map[string]any{"Version": "2012-10-17", "Statement": stmts}
}

// startPermEnv starts a node whose admin may do everything, creates the
// STANDARD ledger "ledg" with tables Cars, Other (each with a document
// and an index on model), Gone and Gone2 (dropped), and the ALLOW_ALL
// ledger "legacy" with table Cars.
func startPermEnv(t *testing.T) *permEnv {
	t.Helper()
	dir := t.TempDir()
	var creds strings.Builder
	for _, p := range permPrincipals {
		id, secret := permKey(p)
		fmt.Fprintf(&creds, "%s %s %s\n", id, secret, p)
	}
	credFile := filepath.Join(dir, "credentials")
	if err := os.WriteFile(credFile, []byte(creds.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &permEnv{policyDir: filepath.Join(dir, "policies"), ids: map[string]string{}, indexID: map[string]string{}}
	if err := os.Mkdir(e.policyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	e.writePolicies(t, map[string]any{"admin": doc(stmt("Allow", []string{"qldb:*", "iam:PassRole", "strand:*"}, "*"))})
	adminID, _ := permKey("admin")
	e.n = servertest.Start(t, func(c *config.Config) {
		c.CredentialsFile = credFile
		c.PolicyFile = e.policyDir
		c.BackupAccessKeyIDs = adminID
	})
	ctx := context.Background()
	for _, l := range []struct{ name, mode string }{{"ledg", "STANDARD"}, {"legacy", "ALLOW_ALL"}} {
		out, err := e.qldb("admin").CreateLedger(ctx, &qldb.CreateLedgerInput{Name: aws.String(l.name),
			PermissionsMode: qldbtypes.PermissionsMode(l.mode), DeletionProtection: aws.Bool(false),
			Tags: map[string]*string{"env": aws.String(map[string]string{"ledg": "dev", "legacy": "prod"}[l.name])}})
		if err != nil {
			t.Fatalf("admin CreateLedger %s: %v", l.name, err)
		}
		if l.name == "ledg" {
			e.ledgerARN = aws.ToString(out.Arn)
		}
	}
	admin := e.driver(t, "admin", "ledg")
	for _, s := range []string{"CREATE TABLE Cars", "CREATE TABLE Other", "CREATE TABLE Gone", "CREATE TABLE Gone2",
		"CREATE INDEX ON Cars (model)", "CREATE INDEX ON Other (model)",
		"INSERT INTO Cars VALUE {'model': 'a'}", "INSERT INTO Other VALUE {'model': 'b'}",
		"DROP TABLE Gone", "DROP TABLE Gone2"} {
		servertest.MustQuery(t, admin, s)
	}
	for _, row := range servertest.MustQuery(t, admin, "SELECT * FROM information_schema.user_tables") {
		name := strField(t, row, "name")
		e.ids[name] = strField(t, row, "tableId")
		if ix := row.Get("indexes"); ix != nil && len(ix.Elems) > 0 {
			e.indexID[name] = strField(t, ix.Elems[0], "indexId")
		}
	}
	servertest.MustQuery(t, e.driver(t, "admin", "legacy"), "CREATE TABLE Cars")
	return e
}

// statementFor is a statement needing exactly action on table (for
// CreateTable, on table/*).
func (e *permEnv) statementFor(action, table string) string {
	switch action {
	case "CreateTable":
		return "CREATE TABLE Fresh"
	case "DropTable":
		return "DROP TABLE " + table
	case "UndropTable":
		return fmt.Sprintf("UNDROP TABLE \"%s\"", e.ids[map[string]string{"Cars": "Gone", "Other": "Gone2"}[table]])
	case "CreateIndex":
		return "CREATE INDEX ON " + table + " (color)"
	case "DropIndex":
		return fmt.Sprintf("DROP INDEX \"%s\" ON %s WITH (purge = true)", e.indexID[table], table)
	case "Insert":
		return "INSERT INTO " + table + " VALUE {'model': 'z'}"
	case "Update":
		return "UPDATE " + table + " SET color = 'red'"
	case "Delete":
		return "DELETE FROM " + table
	case "Select":
		return "SELECT * FROM " + table
	case "HistoryFunction":
		return "SELECT * FROM history(" + table + ")"
	}
	panic(action)
}

var errRollback = errors.New("test: roll back")

// try runs one statement in a driver transaction that is then rolled
// back, and returns the statement's error (nil: it was allowed and ran).
func try(drv *qldbdriver.QLDBDriver, statement string) error {
	_, err := drv.Execute(context.Background(), func(tx qldbdriver.Transaction) (any, error) {
		if _, err := servertest.Rows(tx, statement); err != nil {
			return nil, err
		}
		return nil, errRollback
	})
	if errors.Is(err, errRollback) {
		return nil
	}
	return err
}

var partiqlActions = []string{"CreateTable", "DropTable", "UndropTable", "CreateIndex", "DropIndex",
	"Insert", "Update", "Delete", "Select", "HistoryFunction"}

// TestStandardModeActionMatrix: in a STANDARD ledger, a principal allowed
// one PartiQL action on table Cars (and its dropped twin Gone) may run that
// command on Cars and nothing else: not another command on Cars, not that
// command on Other. A denied statement on an existing table fails exactly
// as one on a missing table does; nothing of any of them is written.
func TestStandardModeActionMatrix(t *testing.T) {
	e := startPermEnv(t)
	pols := map[string]any{"admin": doc(stmt("Allow", []string{"qldb:*", "iam:PassRole", "strand:*"}, "*"))}
	for _, a := range partiqlActions {
		res := []string{e.tableARN("Cars"), e.tableARN("Gone")}
		if a == "CreateTable" {
			res = []string{e.ledgerARN + "/table/*"}
		}
		pols["only-"+a] = doc(stmt("Allow", "qldb:SendCommand", "arn:aws:qldb:*:*:ledger/*"), stmt("Allow", "qldb:PartiQL"+a, res))
	}
	e.writePolicies(t, pols)
	if code, body := e.reload(t, "admin"); code != http.StatusOK || !strings.Contains(body, "only-Select") {
		t.Fatalf("reload: HTTP %d %s", code, body)
	}
	missing := try(e.driver(t, "admin", "ledg"), "SELECT * FROM Nope")
	if missing == nil {
		t.Fatal("SELECT from a missing table succeeded")
	}
	wantHidden := strings.ReplaceAll(servertest.APIError(t, missing).ErrorMessage(), "Nope", "Other")
	for _, p := range partiqlActions {
		drv := e.driver(t, "only-"+p, "ledg")
		for _, a := range partiqlActions {
			for _, table := range []string{"Cars", "Other"} {
				if a == "CreateTable" && table == "Other" {
					continue
				}
				s := e.statementFor(a, table)
				err := try(drv, s)
				allowed := a == p && table == "Cars"
				switch {
				case allowed && err != nil:
					t.Errorf("only-%s: %s: %v, want allowed", p, s, err)
				case !allowed && err == nil:
					t.Errorf("only-%s: %s ran, want denied", p, s)
				case !allowed:
					ae := servertest.WantAPIError(t, err, "BadRequestException", http.StatusBadRequest)
					if table == "Other" && a == "Select" && ae.ErrorMessage() != wantHidden {
						t.Errorf("only-%s: %s: message %q, want the missing-table message %q", p, s, ae.ErrorMessage(), wantHidden)
					}
					if a == "CreateTable" && !strings.Contains(ae.ErrorMessage(), "is not authorized to perform: qldb:PartiQLCreateTable on resource: "+e.ledgerARN+"/table/*") {
						t.Errorf("only-%s: CREATE TABLE denied with %q", p, ae.ErrorMessage())
					}
				}
			}
		}
	}
	// Nothing any of them tried was written: the two documents and four
	// tables of the set-up, Gone and Gone2 still dropped.
	admin := e.driver(t, "admin", "ledg")
	for table, want := range map[string]int{"Cars": 1, "Other": 1} {
		if rows := servertest.MustQuery(t, admin, "SELECT * FROM "+table); len(rows) != want {
			t.Errorf("%s has %d documents, want %d", table, len(rows), want)
		}
	}
	if rows := servertest.MustQuery(t, admin, "SELECT * FROM information_schema.user_tables WHERE status = 'ACTIVE'"); len(rows) != 2 {
		t.Errorf("%d active tables, want 2", len(rows))
	}
}
