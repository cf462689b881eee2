package ledger

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/strand-db/strand/internal/qldberr"
)

func str(s string) *string { return &s }

// wantInvalid fails unless err is an InvalidParameterException whose
// message contains want.
func wantInvalid(t *testing.T, err error, want string) {
	t.Helper()
	var qe *qldberr.Error
	if !errors.As(err, &qe) || qe.Type != qldberr.InvalidParameter {
		t.Fatalf("error = %v, want InvalidParameterException", err)
	}
	if !strings.Contains(qe.Message, want) {
		t.Fatalf("message %q does not contain %q", qe.Message, want)
	}
}

func manyTags(n int) map[string]*string {
	m := make(map[string]*string, n)
	for i := 0; i < n; i++ {
		m[fmt.Sprintf("k%d", i)] = str("v")
	}
	return m
}

func TestValidateTags(t *testing.T) {
	ok := []map[string]*string{
		nil,
		{"a": str("1")},
		{"a": nil},
		{strings.Repeat("é", 128): str(strings.Repeat("é", 256))}, // lengths count characters, not bytes
		{"awsx": str("1"), "x:aws:": str("")},
		manyTags(200),
	}
	for _, tags := range ok {
		if err := ValidateTags(tags); err != nil {
			t.Errorf("ValidateTags(%d tags) = %v", len(tags), err)
		}
	}
	bad := []struct {
		tags map[string]*string
		want string
	}{
		{manyTags(201), "at most 200 tags are allowed, got 201"},
		{map[string]*string{"": str("1")}, "must be 1 to 128 characters"},
		{map[string]*string{strings.Repeat("k", 129): str("1")}, "must be 1 to 128 characters"},
		{map[string]*string{"aws:x": str("1")}, "reserved prefix aws:"},
		{map[string]*string{"AWS:x": str("1")}, "reserved prefix aws:"},
		{map[string]*string{"k": str(strings.Repeat("v", 257))}, "longer than 256 characters"},
	}
	for _, c := range bad {
		wantInvalid(t, ValidateTags(c.tags), c.want)
	}
}

func TestValidateTagKeys(t *testing.T) {
	keys := make([]string, 200)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	wantInvalid(t, ValidateTagKeys(append(keys[:200:200], "one-more")), "at most 200 tag keys are allowed, got 201")
	if err := ValidateTagKeys(keys); err != nil {
		t.Errorf("200 keys: %v", err)
	}
	if err := ValidateTagKeys([]string{"aws:x"}); err != nil { // removing a reserved key is not refused
		t.Errorf("aws:x: %v", err)
	}
	err := ValidateTagKeys([]string{""})
	wantInvalid(t, err, "must be 1 to 128 characters")
	if p := err.(*qldberr.Error).ParameterName; p != "TagKeys" {
		t.Errorf("parameter = %q, want TagKeys", p)
	}
	wantInvalid(t, ValidateTagKeys([]string{strings.Repeat("k", 129)}), "must be 1 to 128 characters")
}

func TestNewTags(t *testing.T) {
	got, err := NewTags(nil)
	if err != nil || got != nil {
		t.Errorf("NewTags(nil) = %v, %v; want nil, nil", got, err)
	}
	got, err = NewTags(map[string]*string{"a": str("1"), "b": nil})
	if err != nil || len(got) != 2 || got["a"] != "1" || got["b"] != "" {
		t.Errorf("NewTags = %v, %v", got, err)
	}
	_, err = NewTags(map[string]*string{"aws:a": str("1")})
	wantInvalid(t, err, "reserved prefix")
}

func TestTagsToAdd(t *testing.T) {
	_, err := TagsToAdd(nil)
	wantInvalid(t, err, "Tags must hold at least one tag")
	_, err = TagsToAdd(map[string]*string{})
	wantInvalid(t, err, "Tags must hold at least one tag")
	_, err = TagsToAdd(map[string]*string{"aws:a": str("1")})
	wantInvalid(t, err, "reserved prefix")
	got, err := TagsToAdd(map[string]*string{"a": nil})
	if err != nil || len(got) != 1 || got["a"] != "" {
		t.Errorf("TagsToAdd = %v, %v", got, err)
	}
}

func TestWithTags(t *testing.T) {
	cur := map[string]string{"a": "1", "b": "2"}
	got, err := WithTags(cur, map[string]string{"b": "two", "c": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["a"] != "1" || got["b"] != "two" || got["c"] != "3" {
		t.Errorf("WithTags = %v", got)
	}
	if len(cur) != 2 || cur["b"] != "2" {
		t.Errorf("WithTags modified its input: %v", cur)
	}
	got, err = WithTags(nil, map[string]string{"a": "1"})
	if err != nil || len(got) != 1 {
		t.Errorf("WithTags(nil) = %v, %v", got, err)
	}

	full := map[string]string{}
	for i := 0; i < 199; i++ {
		full[fmt.Sprintf("k%d", i)] = "v"
	}
	if _, err := WithTags(full, map[string]string{"k0": "replaced", "new": "v"}); err != nil {
		t.Errorf("200 tags after replacing one: %v", err)
	}
	_, err = WithTags(full, map[string]string{"new": "v", "new2": "v"})
	wantInvalid(t, err, "a resource can have at most 200 tags")
	if len(full) != 199 {
		t.Errorf("a refused WithTags modified its input: %d tags", len(full))
	}
}

func TestWithoutTags(t *testing.T) {
	cur := map[string]string{"a": "1", "b": "2"}
	got := WithoutTags(cur, []string{"b", "absent"})
	if len(got) != 1 || got["a"] != "1" {
		t.Errorf("WithoutTags = %v", got)
	}
	if len(cur) != 2 {
		t.Errorf("WithoutTags modified its input: %v", cur)
	}
	if got := WithoutTags(cur, []string{"a", "b"}); got != nil {
		t.Errorf("WithoutTags of every key = %v, want nil", got)
	}
	if got := WithoutTags(nil, []string{"a"}); got != nil {
		t.Errorf("WithoutTags(nil) = %v, want nil", got)
	}
}
