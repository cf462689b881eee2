package export

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/amzn/ion-go/ion"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/strand-db/strand/internal/ionvalue"
	"github.com/strand-db/strand/internal/journal"
)

// Source is where an export is read from: a bucket and prefix of an S3
// endpoint, or a local directory holding the same layout.
type Source interface {
	// List returns every key under the source's prefix.
	List(ctx context.Context) ([]string, error)
	// Get reads the object of a key as a manifest names it.
	Get(ctx context.Context, key string) ([]byte, error)
	// String names the source in messages.
	String() string
}

// S3Source reads an export from a bucket under a prefix.
type S3Source struct {
	Client *s3.Client
	Bucket string
	Prefix string
}

// List implements Source.
func (s *S3Source) List(ctx context.Context) ([]string, error) {
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.Client, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(s.Prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("export: list s3://%s/%s: %s", s.Bucket, s.Prefix, describeError(err))
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

// Get implements Source.
func (s *S3Source) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("export: get s3://%s/%s: %s", s.Bucket, key, describeError(err))
	}
	defer out.Body.Close()
	b, err := readBounded(out.Body)
	if err != nil {
		return nil, fmt.Errorf("export: get s3://%s/%s: %w", s.Bucket, key, err)
	}
	return b, nil
}

// maxObjectBytes bounds one export object an import reads into memory (1
// GiB), so that an oversized or hostile object fails the import with a
// clear error instead of exhausting the process's memory. Tests lower it.
var maxObjectBytes int64 = 1 << 30

// readBounded reads r to its end, refusing more than maxObjectBytes.
func readBounded(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxObjectBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > maxObjectBytes {
		return nil, fmt.Errorf("object larger than %d bytes: not a journal export object", maxObjectBytes)
	}
	return b, nil
}

func (s *S3Source) String() string { return "s3://" + s.Bucket + "/" + s.Prefix }

// DirSource reads an export copied to a local directory (for example with
// `aws s3 sync s3://BUCKET/PREFIX DIR`). A manifest's key is looked up as a
// path under Dir, and failing that with its leading path segments removed
// one by one (the copy may have dropped the prefix).
type DirSource struct{ Dir string }

// List implements Source: every file under Dir, as a slash-separated path.
func (d *DirSource) List(context.Context) ([]string, error) {
	var keys []string
	err := filepath.WalkDir(d.Dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() {
			rel, err := filepath.Rel(d.Dir, p)
			if err != nil {
				return err
			}
			keys = append(keys, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("export: list %s: %w", d.Dir, err)
	}
	sort.Strings(keys)
	return keys, nil
}

// Get implements Source.
func (d *DirSource) Get(_ context.Context, key string) ([]byte, error) {
	k := key
	for {
		if !strings.Contains(k, "..") {
			f, err := os.Open(filepath.Join(d.Dir, filepath.FromSlash(k)))
			if err == nil {
				b, err := readBounded(f)
				f.Close()
				if err != nil {
					return nil, fmt.Errorf("export: %s: %w", key, err)
				}
				return b, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("export: %w", err)
			}
		}
		i := strings.IndexByte(k, '/')
		if i < 0 {
			return nil, fmt.Errorf("export: %s: no file for key %q", d.Dir, key)
		}
		k = k[i+1:]
	}
}

func (d *DirSource) String() string { return d.Dir }

// Export is one journal export found in a source.
type Export struct {
	ID       string
	StrandID string
	Format   string // ION_TEXT, ION_BINARY or JSON
	Keys     []string
	First    uint64 // first block (when Keys is not empty)
	Last     uint64
}

var dataName = regexp.MustCompile(`^.*\.([0-9]+)-([0-9]+)\.[a-zA-Z0-9]+$`)

// blockRange reads <first>-<last> from a data object's key.
func blockRange(key string) (first, last uint64, err error) {
	m := dataName.FindStringSubmatch(key)
	if m == nil {
		return 0, 0, fmt.Errorf("export: data object key %q is not <strandId>.<first>-<last>.<ext>", key)
	}
	first, err1 := strconv.ParseUint(m[1], 10, 64)
	last, err2 := strconv.ParseUint(m[2], 10, 64)
	if err1 != nil || err2 != nil || last < first {
		return 0, 0, fmt.Errorf("export: data object key %q has no valid block range", key)
	}
	return first, last, nil
}

// FindExports lists a source and returns the completed exports in it, by
// their first block: each completed manifest with its keys, the output
// format from the started manifest beside it (or from the data itself).
// It requires one strand and a contiguous, non-overlapping series, as the
// export processor does. Exports with no data objects are left out.
func FindExports(ctx context.Context, src Source) ([]Export, error) {
	keys, err := src.List(ctx)
	if err != nil {
		return nil, err
	}
	started := map[string]string{}
	for _, k := range keys {
		base := k[strings.LastIndexByte(k, '/')+1:]
		if id, ok := strings.CutSuffix(base, ".started.manifest"); ok {
			started[id] = k
		}
	}
	var out []Export
	for _, k := range keys {
		base := k[strings.LastIndexByte(k, '/')+1:]
		rest, ok := strings.CutSuffix(base, ".completed.manifest")
		if !ok {
			continue
		}
		id, strand, ok := strings.Cut(rest, ".")
		if !ok {
			return nil, fmt.Errorf("export: %s: completed manifest %q is not <exportId>.<strandId>.completed.manifest", src, k)
		}
		raw, err := src.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		v, err := decodeManifest(raw)
		if err != nil {
			return nil, fmt.Errorf("export: %s: completed manifest %s: %w", src, k, err)
		}
		e := Export{ID: id, StrandID: strand}
		list := v.Get("keys")
		if list == nil || list.Type != ion.ListType {
			return nil, fmt.Errorf("export: %s: completed manifest %s has no keys list", src, k)
		}
		for _, kv := range list.Elems {
			if kv.Type != ion.StringType && kv.Type != ion.SymbolType {
				return nil, fmt.Errorf("export: %s: completed manifest %s: a key is not a string", src, k)
			}
			e.Keys = append(e.Keys, kv.Text)
		}
		if len(e.Keys) == 0 {
			continue
		}
		if sk, ok := started[id]; ok {
			if raw, err := src.Get(ctx, sk); err == nil {
				if sv, err := decodeManifest(raw); err == nil {
					if f := sv.Get("outputFormat"); f != nil && (f.Type == ion.StringType || f.Type == ion.SymbolType) {
						e.Format = f.Text
					}
				}
			}
		}
		var prev uint64
		for i, key := range e.Keys {
			first, last, err := blockRange(key)
			if err != nil {
				return nil, fmt.Errorf("%w (manifest %s)", err, k)
			}
			if i == 0 {
				e.First = first
			} else if first != prev+1 {
				return nil, fmt.Errorf("export: %s: manifest %s: data object %s does not follow block %d", src, k, key, prev)
			}
			prev = last
		}
		e.Last = prev
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("export: %s holds no completed journal export (no <exportId>.<strandId>.completed.manifest listing data objects)", src)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].First < out[j].First })
	for i := 1; i < len(out); i++ {
		p, e := out[i-1], out[i]
		if e.StrandID != p.StrandID {
			return nil, fmt.Errorf("export: %s: exports %s and %s are of different strands (%s, %s)", src, p.ID, e.ID, p.StrandID, e.StrandID)
		}
		if e.First != p.Last+1 {
			return nil, fmt.Errorf("export: %s: export %s ends at block %d but export %s starts at block %d: the series must be contiguous and not overlap", src, p.ID, p.Last, e.ID, e.First)
		}
	}
	return out, nil
}

// decodeManifest reads a manifest in any output format (JSON is Ion text).
func decodeManifest(raw []byte) (*ionvalue.Value, error) {
	v, err := ionvalue.DecodeOne(raw)
	if err != nil {
		return nil, err
	}
	if v.Type != ion.StructType {
		return nil, errors.New("not a struct")
	}
	return v, nil
}

// DetectFormat names the format of a data object from its bytes: binary
// Ion starts with the version marker, a JSON Lines object with `{"`, and
// anything else is read as Ion text.
func DetectFormat(data []byte) string {
	if ionvalue.HasVersionMarker(data) {
		return FormatIonBinary
	}
	if bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(`{"`)) {
		return FormatJSON
	}
	return FormatIonText
}

// DecodeBlocks reads the blocks of one data object in format f.
func DecodeBlocks(data []byte, f string) ([]*journal.Block, error) {
	var vs []*ionvalue.Value
	var err error
	if f == FormatJSON {
		for i, line := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			v, err := ionvalue.DecodeOne(line)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", i+1, err)
			}
			if err := upConvertBlock(v); err != nil {
				return nil, fmt.Errorf("line %d: %w", i+1, err)
			}
			vs = append(vs, v)
		}
	} else if vs, err = ionvalue.Decode(data); err != nil {
		return nil, err
	}
	out := make([]*journal.Block, 0, len(vs))
	for _, v := range vs {
		b, err := journal.BlockFromIon(v)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// upConvertBlock turns a JSON block (read as Ion text) back into the Ion
// types of GetBlock where the block's own shape says what they were: the
// base64 hashes become blobs and the timestamps timestamps. Document data
// stays as JSON made it (its Ion types are lost).
func upConvertBlock(v *ionvalue.Value) error {
	if v.Type != ion.StructType {
		return errors.New("a block is not a JSON object")
	}
	for _, name := range []string{"blockHash", "entriesHash", "previousBlockHash"} {
		if err := toBlob(v.Get(name)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := toTime(v.Get("blockTimestamp")); err != nil {
		return fmt.Errorf("blockTimestamp: %w", err)
	}
	if l := v.Get("entriesHashList"); l != nil {
		for _, e := range l.Elems {
			if err := toBlob(e); err != nil {
				return fmt.Errorf("entriesHashList: %w", err)
			}
		}
	}
	if ti := v.Get("transactionInfo"); ti != nil {
		if st := ti.Get("statements"); st != nil {
			for _, s := range st.Elems {
				if err := toTime(s.Get("startTime")); err != nil {
					return fmt.Errorf("statement startTime: %w", err)
				}
				if err := toBlob(s.Get("statementDigest")); err != nil {
					return fmt.Errorf("statementDigest: %w", err)
				}
			}
		}
	}
	if revs := v.Get("revisions"); revs != nil {
		for _, r := range revs.Elems {
			if err := toBlob(r.Get("hash")); err != nil {
				return fmt.Errorf("revision hash: %w", err)
			}
			if err := toBlob(r.Get("dataHash")); err != nil {
				return fmt.Errorf("revision dataHash: %w", err)
			}
			if m := r.Get("metadata"); m != nil {
				if err := toTime(m.Get("txTime")); err != nil {
					return fmt.Errorf("revision txTime: %w", err)
				}
			}
		}
	}
	return nil
}

func toBlob(v *ionvalue.Value) error {
	if v == nil || v.Type != ion.StringType {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(v.Text)
	if err != nil {
		return err
	}
	*v = *ionvalue.Blob(b)
	return nil
}

func toTime(v *ionvalue.Value) error {
	if v == nil || v.Type != ion.StringType {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, v.Text)
	if err != nil {
		return err
	}
	*v = *ionvalue.TimeMillis(t)
	return nil
}

// ForEachBlock reads the blocks of a series of exports in order and calls
// fn with each and the key of its data object. It checks that each data
// object holds exactly the blocks its name says. Each object is read in
// its export's format, or, when the started manifest does not say, in the
// format its bytes show (DetectFormat).
func ForEachBlock(ctx context.Context, src Source, exports []Export, fn func(b *journal.Block, key string) error) error {
	for _, e := range exports {
		for _, key := range e.Keys {
			first, last, err := blockRange(key)
			if err != nil {
				return err
			}
			data, err := src.Get(ctx, key)
			if err != nil {
				return err
			}
			f := e.Format
			if f == "" {
				f = DetectFormat(data)
			}
			blocks, err := DecodeBlocks(data, f)
			if err != nil {
				return fmt.Errorf("export: %s: %w", key, err)
			}
			if uint64(len(blocks)) != last-first+1 || blocks[0].Address.SequenceNo != first || blocks[len(blocks)-1].Address.SequenceNo != last {
				return fmt.Errorf("export: %s: its name says blocks %d-%d, it holds %d blocks", key, first, last, len(blocks))
			}
			for _, b := range blocks {
				if err := fn(b, key); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
