// Package qldberr defines the typed errors that Strand's engine packages
// return to clients. Each error names the AWS exception type QLDB used and
// carries the modelled members; the api package turns it into an HTTP status,
// an X-Amzn-ErrorType header and a JSON body. The package knows nothing of HTTP.
package qldberr

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// AWS exception type names used by QLDB's control plane and session API.
const (
	InvalidParameter      = "InvalidParameterException"
	ResourceNotFound      = "ResourceNotFoundException"
	ResourceAlreadyExists = "ResourceAlreadyExistsException"
	ResourceInUse         = "ResourceInUseException"
	PreconditionNotMet    = "ResourcePreconditionNotMetException"
	LimitExceeded         = "LimitExceededException"
	BadRequest            = "BadRequestException"
	InvalidSession        = "InvalidSessionException"
	OccConflict           = "OccConflictException"
	RateExceeded          = "RateExceededException"
	CapacityExceeded      = "CapacityExceededException"
	InternalFailure       = "InternalFailure"
)

// Error is a client-visible error. Type is one of the constants above (or
// another AWS exception name); Message is the human-readable text. The other
// members are sent only when non-empty.
type Error struct {
	Type          string
	Message       string
	ResourceType  string
	ResourceName  string
	ParameterName string
	// Code is the session API's ErrorCode member (for example "412" on a
	// duplicate table). It must stay empty on InvalidSessionException and
	// OccConflictException: the QLDB drivers only recognise those when it is.
	Code string
}

// Error implements error.
func (e *Error) Error() string { return e.Type + ": " + e.Message }

// As returns the *Error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// MaxEcho is the most bytes of one client-supplied value that an error
// message repeats; see Clip.
const MaxEcho = 256

// Clip returns s unchanged when it is at most MaxEcho bytes long, and
// otherwise its first MaxEcho bytes (cut at a character boundary) followed
// by "…(N bytes)" naming its full length. Error messages echo inputs through
// it, so a client cannot make the server repeat a huge value.
func Clip(s string) string { return ClipTo(s, MaxEcho) }

// ClipTo is Clip with a bound of n bytes instead of MaxEcho.
func ClipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:cut], len(s))
}

// clipArgs applies Clip to the string, byte-slice and error arguments of a
// message, which is where client input enters it.
func clipArgs(args []any) []any {
	out := args
	for i, a := range args {
		var s string
		switch v := a.(type) {
		case string:
			s = v
		case []byte:
			s = string(v)
		case error:
			s = v.Error()
		default:
			continue
		}
		if len(s) <= MaxEcho {
			continue
		}
		if &out[0] == &args[0] {
			out = append([]any(nil), args...)
		}
		out[i] = Clip(s)
	}
	return out
}

// MaxRelayed bounds a message relayed whole with the format "%s": its own
// inputs were clipped when it was built, so it is cut only at this length.
const MaxRelayed = 2048

func sprintf(format string, args []any) string {
	if format == "%s" && len(args) == 1 {
		if s, ok := args[0].(string); ok {
			return ClipTo(s, MaxRelayed)
		}
	}
	return fmt.Sprintf(format, clipArgs(args)...)
}

// The constructors below clip every string argument of the message and the
// resource name with Clip (a message relayed whole, format "%s", with
// MaxRelayed).

// Invalid returns an InvalidParameterException naming the parameter.
func Invalid(param, format string, args ...any) *Error {
	return &Error{Type: InvalidParameter, ParameterName: param, Message: sprintf(format, args)}
}

// NotFound returns a ResourceNotFoundException.
func NotFound(resourceType, name, format string, args ...any) *Error {
	return &Error{Type: ResourceNotFound, ResourceType: resourceType, ResourceName: Clip(name), Message: sprintf(format, args)}
}

// Precondition returns a ResourcePreconditionNotMetException.
func Precondition(resourceType, name, format string, args ...any) *Error {
	return &Error{Type: PreconditionNotMet, ResourceType: resourceType, ResourceName: Clip(name), Message: sprintf(format, args)}
}

// New returns an error of the given type with a formatted message.
func New(typ, format string, args ...any) *Error {
	return &Error{Type: typ, Message: sprintf(format, args)}
}
