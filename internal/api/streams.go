package api

import (
	"encoding/json"
	"math"
	"net/http"
	"time"

	"github.com/strand-db/strand/internal/qldberr"
	"github.com/strand-db/strand/internal/stream"
)

// epochIn is a rest-json timestamp in a request: a JSON number of seconds
// since the Unix epoch, fractions allowed.
type epochIn struct{ t time.Time }

// UnmarshalJSON implements json.Unmarshaler.
func (e *epochIn) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return &json.UnmarshalTypeError{Value: string(b), Type: nil}
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e13 {
		return &json.UnmarshalTypeError{Value: string(b), Type: nil}
	}
	sec, frac := math.Modf(f)
	e.t = time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC()
	return nil
}

type kinesisConfiguration struct {
	StreamArn          string `json:"StreamArn"`
	AggregationEnabled *bool  `json:"AggregationEnabled,omitempty"`
}

type streamJournalRequest struct {
	RoleArn              string                `json:"RoleArn"`
	Tags                 map[string]*string    `json:"Tags"`
	InclusiveStartTime   *epochIn              `json:"InclusiveStartTime"`
	ExclusiveEndTime     *epochIn              `json:"ExclusiveEndTime"`
	KinesisConfiguration *kinesisConfiguration `json:"KinesisConfiguration"`
	StreamName           string                `json:"StreamName"`
}

type streamIDResponse struct {
	StreamId string `json:"StreamId"`
}

type streamDescription struct {
	LedgerName           string               `json:"LedgerName"`
	CreationTime         *epochSeconds        `json:"CreationTime,omitempty"`
	InclusiveStartTime   *epochSeconds        `json:"InclusiveStartTime,omitempty"`
	ExclusiveEndTime     *epochSeconds        `json:"ExclusiveEndTime,omitempty"`
	RoleArn              string               `json:"RoleArn"`
	StreamId             string               `json:"StreamId"`
	Arn                  string               `json:"Arn"`
	Status               string               `json:"Status"`
	KinesisConfiguration kinesisConfiguration `json:"KinesisConfiguration"`
	ErrorCause           string               `json:"ErrorCause,omitempty"`
	StreamName           string               `json:"StreamName"`
}

func (s *Handler) describeStream(d stream.Definition) streamDescription {
	agg := d.Aggregation
	out := streamDescription{
		LedgerName: d.LedgerName, CreationTime: epochPtr(d.Created), InclusiveStartTime: epochPtr(d.Start),
		RoleArn: d.RoleARN, StreamId: d.ID, Arn: d.ARN(s.opts.Region, s.opts.AccountID), Status: d.Status,
		KinesisConfiguration: kinesisConfiguration{StreamArn: d.Destination, AggregationEnabled: &agg},
		ErrorCause:           d.ErrorCause, StreamName: d.StreamName,
	}
	if d.End != nil {
		out.ExclusiveEndTime = epochPtr(*d.End)
	}
	return out
}

func (s *Handler) streamJournalToKinesis(r *http.Request, p []string, body []byte) (any, error) {
	var in streamJournalRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	ci := stream.CreateInput{LedgerName: p[0], RoleARN: in.RoleArn, StreamName: in.StreamName, Tags: in.Tags}
	if in.InclusiveStartTime != nil {
		ci.Start = &in.InclusiveStartTime.t
	}
	if in.ExclusiveEndTime != nil {
		ci.End = &in.ExclusiveEndTime.t
	}
	if in.KinesisConfiguration == nil {
		return nil, qldberr.Invalid("KinesisConfiguration", "KinesisConfiguration is required")
	}
	ci.StreamARN, ci.Aggregation = in.KinesisConfiguration.StreamArn, in.KinesisConfiguration.AggregationEnabled
	id, err := s.opts.Streams.Create(r.Context(), ci)
	if err != nil {
		return nil, err
	}
	return streamIDResponse{StreamId: id}, nil
}

func (s *Handler) describeJournalKinesisStream(_ *http.Request, p []string, _ []byte) (any, error) {
	d, err := s.opts.Streams.Describe(p[0], p[1])
	if err != nil {
		return nil, err
	}
	return struct {
		Stream streamDescription `json:"Stream"`
	}{s.describeStream(d)}, nil
}

func (s *Handler) listJournalKinesisStreams(r *http.Request, p []string, _ []byte) (any, error) {
	max, tok, err := pageParams(r)
	if err != nil {
		return nil, err
	}
	ds, next, err := s.opts.Streams.List(p[0], max, tok)
	if err != nil {
		return nil, err
	}
	out := struct {
		Streams   []streamDescription `json:"Streams"`
		NextToken string              `json:"NextToken,omitempty"`
	}{Streams: make([]streamDescription, len(ds)), NextToken: next}
	for i, d := range ds {
		out.Streams[i] = s.describeStream(d)
	}
	return out, nil
}

func (s *Handler) cancelJournalKinesisStream(_ *http.Request, p []string, _ []byte) (any, error) {
	if err := s.opts.Streams.Cancel(p[0], p[1]); err != nil {
		return nil, err
	}
	return streamIDResponse{StreamId: p[1]}, nil
}
