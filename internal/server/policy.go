package server

import (
	"fmt"

	"github.com/strand-db/strand/internal/api"
	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/policy"
)

// openPolicies loads cfg.PolicyFile (nil without one) and warns about
// policies keyed by a name no configured key carries.
func (n *Node) openPolicies(cfg config.Config) (*policy.Store, error) {
	if cfg.PolicyFile == "" {
		n.log.Info("authorization: no --policy-file, so every authenticated access key may do everything and ledgers' permissions modes have no effect")
		return nil, nil
	}
	ps, err := policy.Open(cfg.PolicyFile)
	if err != nil {
		return nil, fmt.Errorf("server: --policy-file: %w", err)
	}
	n.log.Info("authorization: IAM-style policies in force (default deny); STANDARD ledgers check each statement", "policy_file", cfg.PolicyFile, "principals", ps.Current().Keys())
	n.warnUnknownPrincipals(ps.Current())
	return ps, nil
}

// warnUnknownPrincipals logs the policy keys that are neither a configured
// access key id nor a principal name of one: most likely a typo, and a
// policy that applies to no one.
func (n *Node) warnUnknownPrincipals(s *policy.Set) {
	known := map[string]bool{}
	for k := range n.cfg.Credentials {
		known[k] = true
		if p := n.cfg.Principals[k]; p != "" {
			known[p] = true
		}
	}
	for _, k := range s.Keys() {
		if !known[k] {
			n.log.Warn("policy file names a principal no configured access key has; its policies apply to no one", "principal", k, "policy_file", n.cfg.PolicyFile)
		}
	}
}

// ReloadPolicies loads the policy file again (SIGHUP, strand policy
// reload) and logs what changed. On error the policies in force stay.
func (n *Node) ReloadPolicies() (policy.Changes, error) {
	if n.policies == nil {
		return policy.Changes{}, fmt.Errorf("server: no --policy-file to reload")
	}
	ch, err := n.policies.Reload()
	if err != nil {
		n.log.Error("policy reload failed; the policies in force are unchanged", "policy_file", n.cfg.PolicyFile, "err", err)
		return ch, err
	}
	n.log.Info("policies reloaded", "policy_file", n.cfg.PolicyFile, "changes", ch.String())
	n.warnUnknownPrincipals(n.policies.Current())
	return ch, nil
}

// PolicyMode describes authorization, for the start-up banner.
func (n *Node) PolicyMode() string {
	if n.policies == nil {
		return "none: every authenticated access key may do everything (no --policy-file); ledgers' permissions modes have no effect"
	}
	return fmt.Sprintf("IAM-style policies from %s for %d principal(s); default deny; STANDARD ledgers check each statement", n.cfg.PolicyFile, len(n.policies.Current().Keys()))
}

// tableTags reads a table's tags (CREATE TABLE ... WITH (aws_tags ...),
// TagResource on its ARN) for aws:ResourceTag conditions on table ARNs.
func (n *Node) tableTags(cfg config.Config) api.TableTagger {
	return func(ledgerName, tableID string) (map[string]string, error) {
		raw := ledger.TableARN(cfg.Region, cfg.AccountID, ledgerName, tableID)
		a, err := ledger.ParseARN(raw)
		if err != nil {
			return nil, err
		}
		return n.sessions.Tags(a, raw)
	}
}
