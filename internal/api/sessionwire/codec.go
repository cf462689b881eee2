package sessionwire

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// scanner is a cursor over a JSON body for the fast path; ok turns false
// at the first thing it does not handle.
type scanner struct {
	b  []byte
	i  int
	ok bool
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// byte consumes c (after whitespace) or fails.
func (s *scanner) byte(c byte) bool {
	s.ws()
	if s.ok && s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	s.ok = false
	return false
}

// peek reports whether the next non-space byte is c, without consuming it.
func (s *scanner) peek(c byte) bool {
	s.ws()
	return s.ok && s.i < len(s.b) && s.b[s.i] == c
}

// raw returns the bytes of a string without escapes or control
// characters, as valid UTF-8 (what encoding/json would return unchanged).
func (s *scanner) raw() []byte {
	if !s.byte('"') {
		return nil
	}
	start := s.i
	ascii := true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			if !ascii && !utf8.Valid(v) {
				s.ok = false
				return nil
			}
			return v
		case c == '\\' || c < 0x20:
			s.ok = false
			return nil
		case c >= 0x80:
			ascii = false
		}
		s.i++
	}
	s.ok = false
	return nil
}

func (s *scanner) str() string { return string(s.raw()) }

// blob decodes a base64 string as encoding/json does for []byte: an empty
// string gives an empty, non-nil slice.
func (s *scanner) blob() []byte {
	v := s.raw()
	if !s.ok {
		return nil
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(v)))
	n, err := base64.StdEncoding.Decode(out, v)
	if err != nil {
		s.ok = false
		return nil
	}
	return out[:n]
}

// object calls member for each member name of an object; member must
// consume the value and return false for a name it does not know. Each
// name may appear once (seen tracks up to 8 names by their index).
func (s *scanner) object(names []string, member func(i int)) {
	if !s.byte('{') {
		return
	}
	if s.peek('}') {
		s.i++
		return
	}
	var seen uint8
	for s.ok {
		k := s.raw()
		if !s.ok || !s.byte(':') {
			s.ok = false
			return
		}
		idx := -1
		for j, n := range names {
			if string(k) == n {
				idx = j
				break
			}
		}
		if idx < 0 || seen&(1<<idx) != 0 {
			s.ok = false
			return
		}
		seen |= 1 << idx
		member(idx)
		if !s.ok {
			return
		}
		if s.peek(',') {
			s.i++
			continue
		}
		s.byte('}')
		return
	}
}

// empty consumes {}.
func (s *scanner) empty() {
	s.object(nil, func(int) {})
}

var (
	sendCommandMembers = []string{"SessionToken", "StartSession", "StartTransaction", "ExecuteStatement",
		"FetchPage", "CommitTransaction", "AbortTransaction", "EndSession"}
	startSessionMembers     = []string{"LedgerName"}
	executeStatementMembers = []string{"TransactionId", "Statement", "Parameters"}
	fetchPageMembers        = []string{"TransactionId", "NextPageToken"}
	commitMembers           = []string{"TransactionId", "CommitDigest"}
	valueHolderMembers      = []string{"IonBinary", "IonText"}
)

// Parse decodes body into in when body has one of the canonical shapes
// the SDKs send, and reports whether it did. It is a fast path only: it
// accepts exact member names, each at most once, strings without escapes,
// no nulls and no unknown members, and declines anything else (including
// an empty body), which the caller then decodes with encoding/json. For
// every body it accepts, in holds exactly what encoding/json would decode
// (FuzzParse checks this), so behaviour does not depend on which path ran.
// in must be zero.
func Parse(body []byte, in *Request) bool {
	s := &scanner{b: body, ok: true}
	s.ws()
	if s.i == len(s.b) {
		return false // empty body: decodeJSON's rule
	}
	s.object(sendCommandMembers, func(i int) {
		switch i {
		case 0:
			t := s.str()
			in.SessionToken = &t
		case 1:
			x := &struct {
				LedgerName string `json:"LedgerName"`
			}{}
			s.object(startSessionMembers, func(int) { x.LedgerName = s.str() })
			in.StartSession = x
		case 2:
			s.empty()
			in.StartTransaction = &struct{}{}
		case 3:
			x := &struct {
				TransactionId string        `json:"TransactionId"`
				Statement     string        `json:"Statement"`
				Parameters    []ValueHolder `json:"Parameters"`
			}{}
			s.object(executeStatementMembers, func(j int) {
				switch j {
				case 0:
					x.TransactionId = s.str()
				case 1:
					x.Statement = s.str()
				case 2:
					x.Parameters = s.params()
				}
			})
			in.ExecuteStatement = x
		case 4:
			x := &struct {
				TransactionId string `json:"TransactionId"`
				NextPageToken string `json:"NextPageToken"`
			}{}
			s.object(fetchPageMembers, func(j int) {
				if j == 0 {
					x.TransactionId = s.str()
				} else {
					x.NextPageToken = s.str()
				}
			})
			in.FetchPage = x
		case 5:
			x := &struct {
				TransactionId string `json:"TransactionId"`
				CommitDigest  []byte `json:"CommitDigest"`
			}{}
			s.object(commitMembers, func(j int) {
				if j == 0 {
					x.TransactionId = s.str()
				} else {
					x.CommitDigest = s.blob()
				}
			})
			in.CommitTransaction = x
		case 6:
			s.empty()
			in.AbortTransaction = &struct{}{}
		case 7:
			s.empty()
			in.EndSession = &struct{}{}
		}
	})
	s.ws()
	return s.ok && s.i == len(s.b)
}

// params decodes an array of value holders.
func (s *scanner) params() []ValueHolder {
	if !s.byte('[') {
		return nil
	}
	out := []ValueHolder{}
	if s.peek(']') {
		s.i++
		return out
	}
	for s.ok {
		var v ValueHolder
		s.object(valueHolderMembers, func(j int) {
			if j == 0 {
				v.IonBinary = s.blob()
			} else {
				t := s.str()
				v.IonText = &t
			}
		})
		out = append(out, v)
		if s.peek(',') {
			s.i++
			continue
		}
		s.byte(']')
		break
	}
	return out
}

// Append appends the JSON of out to b, byte for byte what json.Marshal(out)
// produces (FuzzAppend checks this), without reflection.
func Append(b []byte, out *Response) []byte {
	b = append(b, '{')
	switch {
	case out.StartSession != nil:
		b = append(b, `"StartSession":{"SessionToken":`...)
		b = appendJSONString(b, out.StartSession.SessionToken)
		b = appendTimed(b, out.StartSession.Timed)
	case out.StartTransaction != nil:
		b = append(b, `"StartTransaction":{"TransactionId":`...)
		b = appendJSONString(b, out.StartTransaction.TransactionId)
		b = appendTimed(b, out.StartTransaction.Timed)
	case out.ExecuteStatement != nil:
		b = append(b, `"ExecuteStatement":{"FirstPage":`...)
		b = appendPage(b, &out.ExecuteStatement.FirstPage)
		b = appendIOs(b, out.ExecuteStatement.ConsumedIOs)
		b = appendTimed(b, out.ExecuteStatement.Timed)
	case out.FetchPage != nil:
		b = append(b, `"FetchPage":{"Page":`...)
		b = appendPage(b, &out.FetchPage.Page)
		b = appendIOs(b, out.FetchPage.ConsumedIOs)
		b = appendTimed(b, out.FetchPage.Timed)
	case out.CommitTransaction != nil:
		b = append(b, `"CommitTransaction":{"TransactionId":`...)
		b = appendJSONString(b, out.CommitTransaction.TransactionId)
		b = append(b, `,"CommitDigest":`...)
		b = appendBlob(b, out.CommitTransaction.CommitDigest)
		b = appendIOs(b, out.CommitTransaction.ConsumedIOs)
		b = appendTimed(b, out.CommitTransaction.Timed)
	case out.AbortTransaction != nil:
		b = append(b, `"AbortTransaction":{"TimingInformation":{"ProcessingTimeMilliseconds":`...)
		b = strconv.AppendInt(b, out.AbortTransaction.TimingInformation.ProcessingTimeMilliseconds, 10)
		b = append(b, "}}"...)
	case out.EndSession != nil:
		b = append(b, `"EndSession":{"TimingInformation":{"ProcessingTimeMilliseconds":`...)
		b = strconv.AppendInt(b, out.EndSession.TimingInformation.ProcessingTimeMilliseconds, 10)
		b = append(b, "}}"...)
	}
	return append(b, '}')
}

// appendTimed closes a command's object with its TimingInformation.
func appendTimed(b []byte, t Timed) []byte {
	b = append(b, `,"TimingInformation":{"ProcessingTimeMilliseconds":`...)
	b = strconv.AppendInt(b, t.TimingInformation.ProcessingTimeMilliseconds, 10)
	return append(b, "}}"...)
}

func appendIOs(b []byte, io IOUsage) []byte {
	b = append(b, `,"ConsumedIOs":{"ReadIOs":`...)
	b = strconv.AppendInt(b, io.ReadIOs, 10)
	b = append(b, `,"WriteIOs":`...)
	b = strconv.AppendInt(b, io.WriteIOs, 10)
	return append(b, '}')
}

func appendPage(b []byte, p *Page) []byte {
	b = append(b, `{"Values":`...)
	if p.Values == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, v := range p.Values {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			sep := false
			if len(v.IonBinary) > 0 {
				b = append(b, `"IonBinary":`...)
				b = appendBlob(b, v.IonBinary)
				sep = true
			}
			if v.IonText != nil {
				if sep {
					b = append(b, ',')
				}
				b = append(b, `"IonText":`...)
				b = appendJSONString(b, *v.IonText)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if p.NextPageToken != nil {
		b = append(b, `,"NextPageToken":`...)
		b = appendJSONString(b, *p.NextPageToken)
	}
	return append(b, '}')
}

// appendBlob appends a []byte as encoding/json does: null for nil, else a
// base64 string.
func appendBlob(b []byte, v []byte) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, v)
	return append(b, '"')
}

// appendJSONString appends s quoted as encoding/json does. Printable ASCII
// other than the characters it escapes (", \, and the HTML-sensitive <, >,
// &) is copied; any other string goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
