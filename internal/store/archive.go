package store

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Data directory archives.
//
// A backup travels as a tar stream (POSIX ustar/PAX, as archive/tar writes
// it) of the regular files of a data directory, directories first, each
// file once, followed by a last entry named ManifestName: a JSON document
// listing every file with its size and SHA-256. A stream that ends before
// the manifest, or whose files do not match it, is incomplete and is
// refused, so a backup cut short by a broken connection or a failing server
// is never mistaken for a whole one.

// ManifestName is the name of an archive's last entry.
const ManifestName = "STRAND-BACKUP-MANIFEST.json"

// manifestFormat is the version of the manifest.
const manifestFormat = 1

// Manifest lists the files of an archive.
type Manifest struct {
	Format int            `json:"format"`
	Files  []ManifestFile `json:"files"`
}

// ManifestFile is one file of an archive.
type ManifestFile struct {
	Name   string `json:"name"` // slash-separated, relative to the data directory
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // hex
}

// ArchiveStats describes an archive written or extracted.
type ArchiveStats struct {
	Files int   // regular files
	Bytes int64 // their total size
}

// WriteArchive writes the regular files under dir to w as a tar stream
// ending with the manifest. It stops with ctx's error when ctx ends, and
// with w's error when a write fails (the receiver went away); the stream is
// then incomplete. Anything but directories and regular files under dir is
// an error.
func WriteArchive(ctx context.Context, w io.Writer, dir string) (ArchiveStats, error) {
	var stats ArchiveStats
	tw := tar.NewWriter(w)
	var man Manifest
	man.Format = manifestFormat
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		name := filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o750, ModTime: info.ModTime()})
		case d.Type().IsRegular():
		default:
			return fmt.Errorf("%s is not a regular file or a directory", p)
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		// The size at open: every file of a checkpoint is complete and
		// no longer written.
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o640, Size: info.Size(), ModTime: info.ModTime()}); err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(tw, h), io.LimitReader(f, info.Size()))
		if err != nil {
			return err
		}
		if n != info.Size() {
			return fmt.Errorf("%s shrank while it was read", p)
		}
		man.Files = append(man.Files, ManifestFile{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
		stats.Files++
		stats.Bytes += n
		return nil
	})
	if err != nil {
		return stats, fmt.Errorf("store: archive: %w", err)
	}
	raw, err := json.MarshalIndent(man, "", " ")
	if err != nil {
		return stats, fmt.Errorf("store: archive: %w", err)
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: ManifestName, Mode: 0o640, Size: int64(len(raw))}); err != nil {
		return stats, fmt.Errorf("store: archive: %w", err)
	}
	if _, err := tw.Write(raw); err != nil {
		return stats, fmt.Errorf("store: archive: %w", err)
	}
	if err := tw.Close(); err != nil {
		return stats, fmt.Errorf("store: archive: %w", err)
	}
	return stats, nil
}

// ErrIncompleteArchive is matched (errors.Is) by ExtractArchive's error for
// a stream that ended before its manifest or does not match it.
var ErrIncompleteArchive = errors.New("store: the backup archive is incomplete or damaged")

// maxManifestBytes bounds the manifest read into memory.
const maxManifestBytes = 64 << 20

// ExtractArchive reads an archive written by WriteArchive into dst, an
// existing empty directory, fsyncing every file and directory written. It
// accepts only directories and regular files with local, relative names,
// each at most once, and checks every file against the manifest. On error
// dst may hold part of the archive: the caller removes it.
func ExtractArchive(r io.Reader, dst string) (ArchiveStats, error) {
	var stats ArchiveStats
	tr := tar.NewReader(r)
	got := map[string]ManifestFile{}
	dirs := []string{dst}
	var man *Manifest
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return stats, fmt.Errorf("%w: %v", ErrIncompleteArchive, err)
		}
		if man != nil {
			return stats, fmt.Errorf("%w: entry %q after the manifest", ErrIncompleteArchive, hdr.Name)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		if !filepath.IsLocal(filepath.FromSlash(name)) || path.Clean(name) != name {
			return stats, fmt.Errorf("store: archive: refusing entry %q: not a local relative path", hdr.Name)
		}
		if _, dup := got[name]; dup {
			return stats, fmt.Errorf("store: archive: entry %q appears twice", name)
		}
		target := filepath.Join(dst, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(target, 0o750); err != nil {
				return stats, fmt.Errorf("store: archive: %w", err)
			}
			got[name] = ManifestFile{Name: name, Size: -1}
			dirs = append(dirs, target)
		case tar.TypeReg:
			if name == ManifestName {
				man = &Manifest{}
				raw, err := io.ReadAll(io.LimitReader(tr, maxManifestBytes))
				if err != nil {
					return stats, fmt.Errorf("%w: %v", ErrIncompleteArchive, err)
				}
				if err := json.Unmarshal(raw, man); err != nil || man.Format != manifestFormat {
					return stats, fmt.Errorf("%w: unreadable manifest", ErrIncompleteArchive)
				}
				continue
			}
			mf, err := extractFile(tr, target, name)
			if err != nil {
				return stats, err
			}
			got[name] = mf
			stats.Files++
			stats.Bytes += mf.Size
		default:
			return stats, fmt.Errorf("store: archive: refusing entry %q of type %q: only directories and regular files", hdr.Name, hdr.Typeflag)
		}
	}
	if man == nil {
		return stats, fmt.Errorf("%w: the stream ended before its manifest", ErrIncompleteArchive)
	}
	if err := checkManifest(man, got); err != nil {
		return stats, err
	}
	// Directories deepest first, so that each entry's name is durable.
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		if err := syncDir(d); err != nil {
			return stats, fmt.Errorf("store: archive: %w", err)
		}
	}
	return stats, nil
}

// extractFile writes one file of the archive, fsynced, and returns its
// size and hash.
func extractFile(r io.Reader, target, name string) (ManifestFile, error) {
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return ManifestFile{}, fmt.Errorf("store: archive: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if err != nil {
		f.Close()
		return ManifestFile{}, fmt.Errorf("%w: %s: %v", ErrIncompleteArchive, name, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ManifestFile{}, fmt.Errorf("store: archive: %w", err)
	}
	return ManifestFile{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// checkManifest compares the files received with the manifest.
func checkManifest(man *Manifest, got map[string]ManifestFile) error {
	listed := map[string]bool{}
	for _, want := range man.Files {
		listed[want.Name] = true
		have, ok := got[want.Name]
		switch {
		case !ok:
			return fmt.Errorf("%w: %s is listed but was not received", ErrIncompleteArchive, want.Name)
		case have.Size != want.Size || have.SHA256 != want.SHA256:
			return fmt.Errorf("%w: %s differs from the manifest", ErrIncompleteArchive, want.Name)
		}
	}
	for name, have := range got {
		if have.Size >= 0 && !listed[name] {
			return fmt.Errorf("%w: %s was received but is not listed", ErrIncompleteArchive, name)
		}
	}
	return nil
}
