package pagetoken

import (
	"errors"
	"regexp"
	"testing"
)

// tokenPattern is QLDB's NextToken pattern.
var tokenPattern = regexp.MustCompile(`^[A-Za-z-0-9+/=]+$`)

// FuzzRoundTrip checks that a token made by Encode decodes to its key for
// the same scope, matches QLDB's NextToken pattern, and is refused for any
// other scope; and that an arbitrary string either decodes to a key whose
// own token is that string (Encode is the only way to a valid token: the
// codec has one spelling per key) or fails with ErrInvalid.
func FuzzRoundTrip(f *testing.F) {
	f.Add("ListLedgers", "ledger-1", "")
	f.Add("ListJournalS3Exports/l", "", Encode("ListJournalS3Exports/l", "exp"))
	f.Add("a\x00b", "k\x00v", "AAAAAAAAAAAA")
	f.Add("s", "é\xff", Encode("t", "k"))
	f.Add("", "", "====")
	f.Fuzz(func(t *testing.T, scope, key, arbitrary string) {
		tok := Encode(scope, key)
		if !tokenPattern.MatchString(tok) {
			t.Fatalf("Encode(%q, %q) = %q does not match the NextToken pattern", scope, key, tok)
		}
		got, err := Decode(scope, tok)
		// A scope holding NUL is ambiguous with the separator; Strand's
		// scopes never hold one, and such a token must then fail, not
		// resume elsewhere.
		if err != nil && !containsNUL(scope) {
			t.Fatalf("Decode(%q, Encode) failed: %v", scope, err)
		}
		if err == nil && got != key {
			t.Fatalf("Decode(%q, Encode(%q)) = %q", scope, key, got)
		}
		if other := scope + "x"; !containsNUL(other) {
			if _, err := Decode(other, tok); !errors.Is(err, ErrInvalid) {
				t.Fatalf("a token of scope %q was accepted for scope %q", scope, other)
			}
		}
		k, err := Decode(scope, arbitrary)
		if err != nil {
			if err != ErrInvalid {
				t.Fatalf("Decode(%q, %q) error %v is not ErrInvalid", scope, arbitrary, err)
			}
			return
		}
		if Encode(scope, k) != arbitrary {
			t.Fatalf("Decode(%q, %q) = %q, but that key's token is %q", scope, arbitrary, k, Encode(scope, k))
		}
	})
}

func containsNUL(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return true
		}
	}
	return false
}

// TestDecodeRejectsOtherSpelling is the regression test of what
// FuzzRoundTrip found: base64 with non-zero unused bits in its last
// character, or with a \r or \n inside, decoded to the same bytes, so a key
// had several valid tokens.
func TestDecodeRejectsOtherSpelling(t *testing.T) {
	tok := Encode("ListJournalS3Exports/l", "exp")
	if tok != "TGlzdEpvdXJuYWxTM0V4cG9ydHMvbABleHAEVIHsURYtJQ==" {
		t.Fatalf("Encode = %q: the test's token is stale", tok)
	}
	for _, other := range []string{
		"TGlzdEpvdXJuYWxTM0V4cG9ydHMvbABleHAEVIHsURYtJX==",   // non-zero unused bits
		"TG\rlzdEpvdXJuYWxTM0V4cG9ydHMvbABleHAEVIHsURYtJQ==", // a line break, skipped by base64
	} {
		if k, err := Decode("ListJournalS3Exports/l", other); !errors.Is(err, ErrInvalid) {
			t.Errorf("Decode(%q) = %q, %v; want ErrInvalid", other, k, err)
		}
	}
	if k, err := Decode("ListJournalS3Exports/l", tok); err != nil || k != "exp" {
		t.Fatalf("Decode(Encode) = %q, %v", k, err)
	}
}
