package api

import (
	"context"
	"io"
	"net/http"

	"github.com/strand-db/strand/internal/api/sigv4"
	"github.com/strand-db/strand/internal/qldberr"
)

// BackupPath is Strand's own operation (not part of QLDB's APIs) that
// streams an online backup of the node's data directory: POST with an empty
// body, signed like every request. The answer is 200 with a tar stream
// (application/x-tar; see store.WriteArchive) or an AWS-style JSON error.
const BackupPath = "/strand/backup"

// errAccessDenied is AWS's error for a principal without permission.
const errAccessDenied = "AccessDeniedException"

// Backuper takes online backups (server.Node implements it).
type Backuper interface {
	// Backup makes a consistent copy of the node's data and writes it, as
	// a store archive, to the writer begin returns. It calls begin at most
	// once, when the copy is ready to send. An error returned before begin
	// is the client's answer (a *qldberr.Error, or an internal error);
	// after begin the response is cut off, and the client, missing the
	// archive's manifest, knows the backup failed. ctx ends when the
	// client goes away.
	Backup(ctx context.Context, begin func() io.Writer) error
}

// mayBackup reports whether the request's principal may take a backup: any
// client when no credentials are configured (the server then listens on
// loopback only), else only the access keys of Options.BackupKeys.
func (s *Handler) mayBackup(ah sigv4.Identity) bool {
	if ah.Open {
		return true
	}
	return s.opts.BackupKeys[ah.Auth.AccessKey]
}

// serveBackup answers POST /strand/backup.
func (s *Handler) serveBackup(w http.ResponseWriter, r *http.Request, ah sigv4.Identity) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, restJSON, qldberr.New(errMethodNotAllowed, "%s is not allowed on %s; use POST", r.Method, BackupPath))
		return
	}
	if !s.mayBackup(ah) {
		s.log.Warn("backup refused: access key not allowed to back up (--backup-access-key-id)", "access_key_id", ah.Auth.AccessKey)
		writeError(w, restJSON, qldberr.New(errAccessDenied, "User with access key %s is not authorized to perform strand:Backup (see --backup-access-key-id)", qldberr.Clip(ah.Auth.AccessKey)))
		return
	}
	if s.opts.Backup == nil {
		writeError(w, restJSON, qldberr.New(errUnknownOperation, "This server does not take backups"))
		return
	}
	started := false
	err := s.opts.Backup.Backup(r.Context(), func() io.Writer {
		started = true
		w.Header().Set("Content-Type", "application/x-tar")
		w.WriteHeader(http.StatusOK)
		return w
	})
	switch {
	case err == nil:
	case !started:
		writeError(w, restJSON, s.toAWSError(err))
	default:
		s.log.Error("backup cut off", "access_key_id", ah.Auth.AccessKey, "err", err)
		// Abort the response so that the client sees a broken stream
		// rather than a clean end.
		panic(http.ErrAbortHandler)
	}
}
