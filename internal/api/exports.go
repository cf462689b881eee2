package api

import (
	"net/http"

	"github.com/strand-db/strand/internal/export"
	"github.com/strand-db/strand/internal/qldberr"
)

// Journal exports to S3: ExportJournalToS3, DescribeJournalS3Export,
// ListJournalS3Exports and ListJournalS3ExportsForLedger.

type s3EncryptionConfiguration struct {
	ObjectEncryptionType string `json:"ObjectEncryptionType"`
	KmsKeyArn            string `json:"KmsKeyArn,omitempty"`
}

type s3ExportConfiguration struct {
	Bucket                  *string                    `json:"Bucket"`
	Prefix                  *string                    `json:"Prefix"`
	EncryptionConfiguration *s3EncryptionConfiguration `json:"EncryptionConfiguration"`
}

type exportJournalRequest struct {
	InclusiveStartTime    *epochIn               `json:"InclusiveStartTime"`
	ExclusiveEndTime      *epochIn               `json:"ExclusiveEndTime"`
	S3ExportConfiguration *s3ExportConfiguration `json:"S3ExportConfiguration"`
	RoleArn               string                 `json:"RoleArn"`
	OutputFormat          string                 `json:"OutputFormat"`
}

type s3ExportConfigurationOut struct {
	Bucket                  string                    `json:"Bucket"`
	Prefix                  string                    `json:"Prefix"`
	EncryptionConfiguration s3EncryptionConfiguration `json:"EncryptionConfiguration"`
}

type exportDescription struct {
	LedgerName            string                   `json:"LedgerName"`
	ExportId              string                   `json:"ExportId"`
	ExportCreationTime    *epochSeconds            `json:"ExportCreationTime"`
	Status                string                   `json:"Status"`
	InclusiveStartTime    *epochSeconds            `json:"InclusiveStartTime"`
	ExclusiveEndTime      *epochSeconds            `json:"ExclusiveEndTime"`
	S3ExportConfiguration s3ExportConfigurationOut `json:"S3ExportConfiguration"`
	RoleArn               string                   `json:"RoleArn"`
	OutputFormat          string                   `json:"OutputFormat,omitempty"`
}

func describeExport(j export.Job) exportDescription {
	return exportDescription{
		LedgerName: j.LedgerName, ExportId: j.ID, ExportCreationTime: epochPtr(j.Created), Status: j.Status,
		InclusiveStartTime: epochPtr(j.Start), ExclusiveEndTime: epochPtr(j.End),
		S3ExportConfiguration: s3ExportConfigurationOut{Bucket: j.Bucket, Prefix: j.Prefix,
			EncryptionConfiguration: s3EncryptionConfiguration{ObjectEncryptionType: j.Encryption, KmsKeyArn: j.KmsKeyARN}},
		RoleArn: j.RoleARN, OutputFormat: j.Format,
	}
}

func (s *Handler) exportsEnabled() error {
	if s.opts.Exports == nil {
		return qldberr.New(errUnknownOperation, "Journal exports to S3 are not enabled on this server")
	}
	return nil
}

func (s *Handler) exportJournalToS3(r *http.Request, p []string, body []byte) (any, error) {
	if err := s.exportsEnabled(); err != nil {
		return nil, err
	}
	var in exportJournalRequest
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	ci := export.CreateInput{LedgerName: p[0], RoleARN: in.RoleArn, Format: in.OutputFormat}
	if in.InclusiveStartTime != nil {
		ci.Start = &in.InclusiveStartTime.t
	}
	if in.ExclusiveEndTime != nil {
		ci.End = &in.ExclusiveEndTime.t
	}
	if in.S3ExportConfiguration == nil {
		return nil, qldberr.Invalid("S3ExportConfiguration", "S3ExportConfiguration is required")
	}
	c := in.S3ExportConfiguration
	ci.Bucket, ci.Prefix = c.Bucket, c.Prefix
	if c.EncryptionConfiguration == nil {
		return nil, qldberr.Invalid("EncryptionConfiguration", "S3ExportConfiguration.EncryptionConfiguration is required")
	}
	ci.Encryption, ci.KmsKeyARN = c.EncryptionConfiguration.ObjectEncryptionType, c.EncryptionConfiguration.KmsKeyArn
	id, err := s.opts.Exports.Create(r.Context(), ci)
	if err != nil {
		return nil, err
	}
	return struct {
		ExportId string `json:"ExportId"`
	}{id}, nil
}

func (s *Handler) describeJournalS3Export(_ *http.Request, p []string, _ []byte) (any, error) {
	if err := s.exportsEnabled(); err != nil {
		return nil, err
	}
	j, err := s.opts.Exports.Describe(p[0], p[1])
	if err != nil {
		return nil, err
	}
	return struct {
		ExportDescription exportDescription `json:"ExportDescription"`
	}{describeExport(j)}, nil
}

type exportList struct {
	JournalS3Exports []exportDescription `json:"JournalS3Exports"`
	NextToken        string              `json:"NextToken,omitempty"`
}

func (s *Handler) listExports(r *http.Request, ledgerName string) (any, error) {
	if err := s.exportsEnabled(); err != nil {
		return nil, err
	}
	max, tok, err := pageParams(r)
	if err != nil {
		return nil, err
	}
	js, next, err := s.opts.Exports.List(ledgerName, max, tok)
	if err != nil {
		return nil, err
	}
	out := exportList{JournalS3Exports: make([]exportDescription, len(js)), NextToken: next}
	for i, j := range js {
		out.JournalS3Exports[i] = describeExport(j)
	}
	return out, nil
}

func (s *Handler) listJournalS3ExportsForLedger(r *http.Request, p []string, _ []byte) (any, error) {
	return s.listExports(r, p[0])
}

func (s *Handler) listJournalS3Exports(r *http.Request, _ []string, _ []byte) (any, error) {
	return s.listExports(r, "")
}
