package ledger

import (
	"strings"

	"github.com/strand-db/strand/internal/qldberr"
)

// Tagging rules shared by ledgers and journal streams (package stream uses
// them too): the QLDB model's limits, AWS's reserved "aws:" prefix, and
// copy-on-write updates so a map already handed to a reader never changes.

// Tag limits from the QLDB model.
const (
	maxTags        = 200
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// ValidateTags checks a tag map against the model's limits: at most 200
// tags, keys of 1 to 128 characters not starting with "aws:" (any case),
// values of at most 256 characters. A nil value stands for "".
func ValidateTags(tags map[string]*string) error {
	if len(tags) > maxTags {
		return qldberr.Invalid("Tags", "at most %d tags are allowed, got %d", maxTags, len(tags))
	}
	for k, v := range tags {
		if err := validateTagKey(k); err != nil {
			return err
		}
		if v != nil && len([]rune(*v)) > maxTagValueLen {
			return qldberr.Invalid("Tags", "the value of tag %q is longer than %d characters", k, maxTagValueLen)
		}
	}
	return nil
}

func validateTagKey(k string) error {
	n := len([]rune(k))
	if n < 1 || n > maxTagKeyLen {
		return qldberr.Invalid("Tags", "tag key %q must be 1 to %d characters", k, maxTagKeyLen)
	}
	if strings.HasPrefix(strings.ToLower(k), "aws:") {
		return qldberr.Invalid("Tags", "tag key %q uses the reserved prefix aws:", k)
	}
	return nil
}

// ValidateTagKeys checks the keys of an UntagResource request: at most 200
// keys of 1 to 128 characters each.
func ValidateTagKeys(keys []string) error {
	if len(keys) > maxTags {
		return qldberr.Invalid("TagKeys", "at most %d tag keys are allowed, got %d", maxTags, len(keys))
	}
	for _, k := range keys {
		if n := len([]rune(k)); n < 1 || n > maxTagKeyLen {
			return qldberr.Invalid("TagKeys", "tag key %q must be 1 to %d characters", k, maxTagKeyLen)
		}
	}
	return nil
}

// NewTags checks the tags of a create request (CreateLedger,
// StreamJournalToKinesis) and returns them as stored: nil when there are
// none, a nil value as "".
func NewTags(req map[string]*string) (map[string]string, error) {
	if err := ValidateTags(req); err != nil {
		return nil, err
	}
	return tagMap(req), nil
}

// TagsToAdd checks the tags of a TagResource request, which must hold at
// least one tag, and returns them as stored (a nil value as "").
func TagsToAdd(req map[string]*string) (map[string]string, error) {
	if len(req) == 0 {
		return nil, qldberr.Invalid("Tags", "Tags must hold at least one tag")
	}
	if err := ValidateTags(req); err != nil {
		return nil, err
	}
	return tagMap(req), nil
}

// WithTags returns a new map holding cur with add's tags added or
// replaced, and refuses a result of more than 200 tags. cur is not
// modified.
func WithTags(cur, add map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(cur)+len(add))
	for k, v := range cur {
		out[k] = v
	}
	for k, v := range add {
		out[k] = v
	}
	if len(out) > maxTags {
		return nil, qldberr.Invalid("Tags", "a resource can have at most %d tags", maxTags)
	}
	return out, nil
}

// WithoutTags returns a new map holding cur without keys (absent keys are
// ignored), or nil when no tag remains. cur is not modified. Check keys with
// ValidateTagKeys first.
func WithoutTags(cur map[string]string, keys []string) map[string]string {
	out := make(map[string]string, len(cur))
	for k, v := range cur {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, k)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func tagMap(in map[string]*string) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		if v != nil {
			out[k] = *v
		} else {
			out[k] = ""
		}
	}
	return out
}
