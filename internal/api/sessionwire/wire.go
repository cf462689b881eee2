// Package sessionwire is the wire format of QLDBSession.SendCommand
// (awsJson1_0): the request and response shapes, with the JSON member names
// the SDKs use, and a reflection-free codec for them (Parse, Append) that
// gives exactly what encoding/json gives. Blobs travel as base64 strings,
// as encoding/json does for []byte.
//
// It is a package of its own, with nothing but the standard library below
// it, so that its fuzz targets run at the speed of the codec: Go instruments
// every package a fuzzing test binary links, and the api package's binary
// links the whole server.
package sessionwire

// ValueHolder is an Ion value: binary, or text.
type ValueHolder struct {
	IonBinary []byte  `json:"IonBinary,omitempty"`
	IonText   *string `json:"IonText,omitempty"`
}

// Request is a SendCommand request; a valid one sets exactly one command.
type Request struct {
	SessionToken *string `json:"SessionToken"`
	StartSession *struct {
		LedgerName string `json:"LedgerName"`
	} `json:"StartSession"`
	StartTransaction *struct{} `json:"StartTransaction"`
	ExecuteStatement *struct {
		TransactionId string        `json:"TransactionId"`
		Statement     string        `json:"Statement"`
		Parameters    []ValueHolder `json:"Parameters"`
	} `json:"ExecuteStatement"`
	FetchPage *struct {
		TransactionId string `json:"TransactionId"`
		NextPageToken string `json:"NextPageToken"`
	} `json:"FetchPage"`
	CommitTransaction *struct {
		TransactionId string `json:"TransactionId"`
		CommitDigest  []byte `json:"CommitDigest"`
	} `json:"CommitTransaction"`
	AbortTransaction *struct{} `json:"AbortTransaction"`
	EndSession       *struct{} `json:"EndSession"`
}

// TimingInformation is the server's processing time of a command.
type TimingInformation struct {
	ProcessingTimeMilliseconds int64 `json:"ProcessingTimeMilliseconds"`
}

// IOUsage is the I/O a command consumed.
type IOUsage struct {
	ReadIOs  int64 `json:"ReadIOs"`
	WriteIOs int64 `json:"WriteIOs"`
}

// Page is one page of a statement's results.
type Page struct {
	Values        []ValueHolder `json:"Values"`
	NextPageToken *string       `json:"NextPageToken,omitempty"`
}

// Timed is embedded in every command's result.
type Timed struct {
	TimingInformation TimingInformation `json:"TimingInformation"`
}

// StartSessionResult answers StartSession.
type StartSessionResult struct {
	SessionToken string `json:"SessionToken"`
	Timed
}

// StartTransactionResult answers StartTransaction.
type StartTransactionResult struct {
	TransactionId string `json:"TransactionId"`
	Timed
}

// ExecuteStatementResult answers ExecuteStatement.
type ExecuteStatementResult struct {
	FirstPage   Page    `json:"FirstPage"`
	ConsumedIOs IOUsage `json:"ConsumedIOs"`
	Timed
}

// FetchPageResult answers FetchPage.
type FetchPageResult struct {
	Page        Page    `json:"Page"`
	ConsumedIOs IOUsage `json:"ConsumedIOs"`
	Timed
}

// CommitTransactionResult answers CommitTransaction.
type CommitTransactionResult struct {
	TransactionId string  `json:"TransactionId"`
	CommitDigest  []byte  `json:"CommitDigest"`
	ConsumedIOs   IOUsage `json:"ConsumedIOs"`
	Timed
}

// Response is a SendCommand response: the result of the one command.
type Response struct {
	StartSession      *StartSessionResult      `json:"StartSession,omitempty"`
	StartTransaction  *StartTransactionResult  `json:"StartTransaction,omitempty"`
	ExecuteStatement  *ExecuteStatementResult  `json:"ExecuteStatement,omitempty"`
	FetchPage         *FetchPageResult         `json:"FetchPage,omitempty"`
	CommitTransaction *CommitTransactionResult `json:"CommitTransaction,omitempty"`
	AbortTransaction  *Timed                   `json:"AbortTransaction,omitempty"`
	EndSession        *Timed                   `json:"EndSession,omitempty"`
}
