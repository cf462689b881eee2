package server

import (
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/export"
	"github.com/strand-db/strand/internal/server/plainbody"
	"github.com/strand-db/strand/internal/txn"
)

// strandIDs names ledgers' strands for export keys.
type strandIDs struct{ e *txn.Engine }

func (s strandIDs) StrandID(name string) (string, error) {
	l, err := s.e.Ledger(name)
	if err != nil {
		return "", err
	}
	return l.StrandID, nil
}

// openExports starts the journal export manager, resuming unfinished jobs.
func (n *Node) openExports(cfg config.Config, owner export.Ownership) error {
	clients := &export.SDKClients{Endpoint: cfg.S3Endpoint, AssumeRole: cfg.AssumeRole, Credentials: cfg.S3Credentials,
		WrapHTTPClient: func(c aws.HTTPClient) aws.HTTPClient { return plainbody.Wrap(c) }}
	m, err := export.Open(export.Options{
		Region: cfg.Region, Clients: clients, Journals: n.sessions, Strands: strandIDs{n.sessions},
		Ledgers: n.ledgers, Store: n.store, Logger: n.log, Ownership: owner, ObjectBlocks: cfg.ExportObjectBlocks,
	})
	if err != nil {
		return err
	}
	n.exports = m
	return nil
}

// Exports returns the journal export manager.
func (n *Node) Exports() *export.Manager { return n.exports }
