package api

import (
	"net/http"

	"github.com/strand-db/strand/internal/api/sigv4"
	"github.com/strand-db/strand/internal/qldberr"
)

// PolicyReloadPath is Strand's own operation (not part of QLDB's APIs) that
// reloads the policy file (--policy-file), like SIGHUP: POST with an empty
// body, signed like every request. It is allowed to the access keys that
// may take backups (--backup-access-key-id) and to principals whose
// policies allow the action strand:ReloadPolicies. The answer is 200 with
// {"Added": [...], "Removed": [...], "Changed": [...]} (principal names or
// access key ids whose policies changed), or an AWS-style JSON error; a
// file that does not parse leaves the policies in force unchanged and is a
// 400 InvalidParameterException naming the problem.
const PolicyReloadPath = "/strand/policy/reload"

type policyReloadResponse struct {
	Added   []string `json:"Added"`
	Removed []string `json:"Removed"`
	Changed []string `json:"Changed"`
}

// servePolicyReload answers POST /strand/policy/reload.
func (s *Handler) servePolicyReload(w http.ResponseWriter, r *http.Request, ah sigv4.Identity) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, restJSON, qldberr.New(errMethodNotAllowed, "%s is not allowed on %s; use POST", r.Method, PolicyReloadPath))
		return
	}
	if !s.policiesOn() || s.opts.ReloadPolicies == nil {
		writeError(w, restJSON, qldberr.New(qldberr.InvalidParameter, "This server has no --policy-file to reload"))
		return
	}
	if !s.opts.BackupKeys[ah.Auth.AccessKey] {
		if aerr := s.authorize(r.Context(), "strand:ReloadPolicies", "*", nil); aerr != nil {
			writeError(w, restJSON, aerr)
			return
		}
	}
	ch, err := s.opts.ReloadPolicies()
	if err != nil {
		writeError(w, restJSON, qldberr.New(qldberr.InvalidParameter, "The policy file was not reloaded (the policies in force are unchanged): %v", err))
		return
	}
	out := policyReloadResponse{Added: ch.Added, Removed: ch.Removed, Changed: ch.Changed}
	for _, p := range []*[]string{&out.Added, &out.Removed, &out.Changed} {
		if *p == nil {
			*p = []string{}
		}
	}
	writeJSON(w, restJSON, out)
}
