// Package qldberr defines the typed errors that Strand's engine packages
// return to clients. Each error names the AWS exception type QLDB used and
// carries the modelled members; the api package turns it into an HTTP status,
// an X-Amzn-ErrorType header and a JSON body. The package knows nothing of HTTP.
package qldberr

import (
	"errors"
	"fmt"
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

// Invalid returns an InvalidParameterException naming the parameter.
func Invalid(param, format string, args ...any) *Error {
	return &Error{Type: InvalidParameter, ParameterName: param, Message: fmt.Sprintf(format, args...)}
}

// NotFound returns a ResourceNotFoundException.
func NotFound(resourceType, name, format string, args ...any) *Error {
	return &Error{Type: ResourceNotFound, ResourceType: resourceType, ResourceName: name, Message: fmt.Sprintf(format, args...)}
}

// Precondition returns a ResourcePreconditionNotMetException.
func Precondition(resourceType, name, format string, args ...any) *Error {
	return &Error{Type: PreconditionNotMet, ResourceType: resourceType, ResourceName: name, Message: fmt.Sprintf(format, args...)}
}

// New returns an error of the given type with a formatted message.
func New(typ, format string, args ...any) *Error {
	return &Error{Type: typ, Message: fmt.Sprintf(format, args...)}
}
