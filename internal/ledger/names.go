package ledger

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/strand-db/strand/internal/qldberr"
)

// Go's regexp has no lookahead, so the model's name pattern
// (?!^.*--)(?!^[0-9]+$)(?!^-)(?!.*-$)^[A-Za-z0-9-]+$ is checked in parts.
var (
	nameChars  = regexp.MustCompile(`^[A-Za-z0-9-]+$`)
	digitsOnly = regexp.MustCompile(`^[0-9]+$`)
)

// ValidateName checks a ledger or stream name against the QLDB model: 1–32
// letters, digits and single hyphens, not all digits, no leading or trailing
// hyphen. param names the request member in the error.
func ValidateName(param, name string) error {
	switch {
	case name == "":
		return qldberr.Invalid(param, "%s must not be empty", param)
	case len(name) > 32:
		return qldberr.Invalid(param, "%s %q is longer than 32 characters", param, name)
	case !nameChars.MatchString(name):
		return qldberr.Invalid(param, "%s %q may contain only letters, digits and hyphens", param, name)
	case digitsOnly.MatchString(name):
		return qldberr.Invalid(param, "%s %q must not consist of digits only", param, name)
	case strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-"):
		return qldberr.Invalid(param, "%s %q must not start or end with a hyphen", param, name)
	case strings.Contains(name, "--"):
		return qldberr.Invalid(param, "%s %q must not contain two consecutive hyphens", param, name)
	}
	return nil
}

// ARN is a parsed QLDB resource ARN.
type ARN struct {
	Region    string
	AccountID string
	Ledger    string // the ledger name
	StreamID  string // set for stream ARNs
	TableID   string // set for table ARNs (ledger/<name>/table/<tableId>)
}

var arnPattern = regexp.MustCompile(`^arn:aws:qldb:([a-z0-9-]+):(\d{12}):(ledger|stream)/(.+)$`)

// ParseARN parses arn:aws:qldb:<region>:<account>:ledger/<name>,
// arn:aws:qldb:<region>:<account>:ledger/<name>/table/<tableId> and
// arn:aws:qldb:<region>:<account>:stream/<ledger>/<streamId>.
func ParseARN(s string) (ARN, error) {
	if len(s) < 20 || len(s) > 1600 {
		return ARN{}, qldberr.Invalid("ResourceArn", "ResourceArn must be 20 to 1600 characters")
	}
	m := arnPattern.FindStringSubmatch(s)
	if m == nil {
		return ARN{}, qldberr.Invalid("ResourceArn", "%q is not a QLDB ledger or stream ARN", s)
	}
	a := ARN{Region: m[1], AccountID: m[2]}
	switch m[3] {
	case "ledger":
		a.Ledger = m[4]
		if name, rest, ok := strings.Cut(m[4], "/"); ok {
			id, ok := strings.CutPrefix(rest, "table/")
			if !ok || !validTableID(id) {
				return ARN{}, qldberr.Invalid("ResourceArn", "%q is not a QLDB ledger or table ARN", s)
			}
			a.Ledger, a.TableID = name, id
		}
	case "stream":
		ledgerName, id, ok := strings.Cut(m[4], "/")
		if !ok || id == "" || strings.Contains(id, "/") {
			return ARN{}, qldberr.Invalid("ResourceArn", "%q is not a QLDB stream ARN", s)
		}
		a.Ledger, a.StreamID = ledgerName, id
	}
	if err := ValidateName("ResourceArn", a.Ledger); err != nil {
		return ARN{}, qldberr.Invalid("ResourceArn", "%q names an invalid ledger", s)
	}
	return a, nil
}

// LedgerARN formats a ledger's ARN.
func LedgerARN(region, account, name string) string {
	return fmt.Sprintf("arn:aws:qldb:%s:%s:ledger/%s", region, account, name)
}

// StreamARN formats a journal stream's ARN.
func StreamARN(region, account, ledgerName, streamID string) string {
	return fmt.Sprintf("arn:aws:qldb:%s:%s:stream/%s/%s", region, account, ledgerName, streamID)
}

// TableARN formats a table's ARN.
func TableARN(region, account, ledgerName, tableID string) string {
	return fmt.Sprintf("arn:aws:qldb:%s:%s:ledger/%s/table/%s", region, account, ledgerName, tableID)
}

// validTableID accepts what a QLDB table id can be: 1 to 32 letters and
// digits (Strand's ids, like QLDB's, are 22 base-62 characters).
func validTableID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
