package store

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sampleDir makes a small data directory to archive.
func sampleDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"pebble/MANIFEST-000001": "manifest", "pebble/000002.log": strings.Repeat("w", 5000), "tips/x.tip": "tip"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestArchiveRoundTrip(t *testing.T) {
	src := sampleDir(t)
	var buf bytes.Buffer
	ws, err := WriteArchive(context.Background(), &buf, src)
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	rs, err := ExtractArchive(bytes.NewReader(buf.Bytes()), dst)
	if err != nil {
		t.Fatal(err)
	}
	if ws != rs || ws.Files != 3 || ws.Bytes != 5011 {
		t.Fatalf("written %+v, extracted %+v", ws, rs)
	}
	got, err := os.ReadFile(filepath.Join(dst, "pebble", "000002.log"))
	if err != nil || string(got) != strings.Repeat("w", 5000) {
		t.Fatalf("extracted log: %v %q", err, got)
	}
}

// TestArchiveRefusesIncomplete: a stream cut anywhere before its end, or
// with a file changed, is refused with ErrIncompleteArchive.
func TestArchiveRefusesIncomplete(t *testing.T) {
	var buf bytes.Buffer
	if _, err := WriteArchive(context.Background(), &buf, sampleDir(t)); err != nil {
		t.Fatal(err)
	}
	full := buf.Bytes()
	// Cut before the manifest's header ends (tar's two zero blocks after it
	// are 1024 bytes; a cut inside them still has the whole manifest).
	manifestAt := bytes.Index(full, []byte(ManifestName))
	for _, n := range []int{0, 100, 512, 3000, manifestAt} {
		if _, err := ExtractArchive(bytes.NewReader(full[:n]), t.TempDir()); !errors.Is(err, ErrIncompleteArchive) {
			t.Errorf("cut at %d of %d: %v", n, len(full), err)
		}
	}
	bad := bytes.Clone(full)
	i := bytes.Index(bad, []byte("wwww"))
	bad[i] = 'x'
	if _, err := ExtractArchive(bytes.NewReader(bad), t.TempDir()); !errors.Is(err, ErrIncompleteArchive) || !strings.Contains(err.Error(), "differs from the manifest") {
		t.Errorf("changed file: %v", err)
	}
}

// TestArchiveRefusesUnsafeEntries: names leaving the directory, links and
// other special files are refused before anything is written for them.
func TestArchiveRefusesUnsafeEntries(t *testing.T) {
	for _, hdr := range []tar.Header{
		{Name: "../escape", Typeflag: tar.TypeReg, Size: 1},
		{Name: "/abs", Typeflag: tar.TypeReg, Size: 1},
		{Name: "a/../../b", Typeflag: tar.TypeReg, Size: 1},
		{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
		{Name: "hard", Typeflag: tar.TypeLink, Linkname: "x"},
		{Name: "fifo", Typeflag: tar.TypeFifo},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			_, _ = tw.Write([]byte("x"))
		}
		_ = tw.Close()
		parent := t.TempDir()
		dst := filepath.Join(parent, "d")
		if err := os.Mkdir(dst, 0o750); err != nil {
			t.Fatal(err)
		}
		_, err := ExtractArchive(&buf, dst)
		if err == nil || errors.Is(err, ErrIncompleteArchive) {
			t.Errorf("%s (%c): %v", hdr.Name, hdr.Typeflag, err)
		}
		for _, d := range []string{parent, dst} {
			if e, _ := os.ReadDir(d); len(e) != map[string]int{parent: 1, dst: 0}[d] {
				t.Errorf("%s: %s holds %d entries", hdr.Name, d, len(e))
			}
		}
	}
}
