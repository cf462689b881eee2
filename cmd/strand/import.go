package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/strand-db/strand/internal/config"
	"github.com/strand-db/strand/internal/export"
	"github.com/strand-db/strand/internal/journal"
	"github.com/strand-db/strand/internal/ledger"
	"github.com/strand-db/strand/internal/qldbid"
	"github.com/strand-db/strand/internal/store"
	"github.com/strand-db/strand/internal/txn"
)

// importBatchBlocks is how many blocks one write batch of an import holds.
const importBatchBlocks = 512

// importCrashPoint, when set (by a test's child process), is called at
// the named points of an import's writes: "blocks" after the first batch
// of blocks is durable, "derived" after the first batch of derived
// records, "catalogue" after the catalogue entry. Nil in production.
var importCrashPoint func(point string)

func importPoint(point string) {
	if importCrashPoint != nil {
		importCrashPoint(point)
	}
}

// importCmd runs `strand import`: it loads a QLDB journal export (one or a
// contiguous series, from S3 or a local directory) into a new ledger of a
// stopped server's data, keeping QLDB's strand id, sequence numbers,
// transaction ids, document ids and hashes. Every block is checked before
// anything is written. The ledger's data is written under a staged id and
// its catalogue entry last (txn.StageImport), so an import that fails or
// is killed leaves no ledger, and the next run removes its leftovers.
// Exit status 0: imported; 1: refused (a block does not verify, the
// digest is not reached, a JSON export without --allow-json, the name is
// taken; nothing written); 2: could not run.
func importCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("strand import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := dataDirFlag(fs, "data directory to import into (the server must be stopped); also STRAND_DATA_DIR")
	storeURL := storeFlag(fs)
	name := fs.String("ledger", "", "name of the new ledger")
	from := fs.String("from", "", "the export: s3://BUCKET/PREFIX or a local directory with the same layout")
	endpoint := fs.String("s3-endpoint", os.Getenv(config.EnvName("s3-endpoint")), "read s3:// exports from this S3-compatible server (path-style); also STRAND_S3_ENDPOINT")
	region := fs.String("region", envOr("region", config.Default().Region), "region of the bucket, and of the new ledger's ARN; also STRAND_REGION")
	account := fs.String("account-id", envOr("account-id", config.Default().AccountID), "account id in the new ledger's ARN; also STRAND_ACCOUNT_ID")
	digestFile := fs.String("digest", "", "a saved QLDB digest (JSON of get-digest, optionally with Proof and LastBlockNum): prove the export reaches it")
	allowJSON := fs.Bool("allow-json", false, "import a JSON export although its Ion types are lost (revision and transactionInfo hashes cannot be recomputed)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: strand import --ledger NAME --from s3://BUCKET/PREFIX|DIR [--s3-endpoint URL] [--digest FILE] [--data-dir DIR | --store postgres://...]\n\n"+
			"Loads a QLDB journal export into a new ledger, keeping QLDB's strand id, block and\n"+
			"revision hashes, so digests and proofs match QLDB's and new commits chain on. Every\n"+
			"block is checked first; nothing is written unless all verify. The ledger appears\n"+
			"only once complete: an interrupted import leaves none, and running it again\n"+
			"removes what it wrote. The server must be stopped. Exit status 0: imported;\n"+
			"1: refused (nothing written); 2: could not run.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *name == "" || *from == "" {
		fmt.Fprintln(stderr, "strand import: --ledger and --from are required")
		fs.Usage()
		return 2
	}
	if err := ledger.ValidateName("Name", *name); err != nil {
		fmt.Fprintf(stderr, "strand import: %v\n", err)
		return 2
	}
	ctx := context.Background()
	src, err := openSource(ctx, *from, *endpoint, *region)
	if err != nil {
		fmt.Fprintf(stderr, "strand import: %v\n", err)
		return 2
	}
	var digest *export.Digest
	if *digestFile != "" {
		raw, err := os.ReadFile(*digestFile)
		if err != nil {
			fmt.Fprintf(stderr, "strand import: %v\n", err)
			return 2
		}
		if digest, err = export.ParseDigest(raw); err != nil {
			fmt.Fprintf(stderr, "strand import: %v\n", err)
			return 2
		}
	}
	exports, err := export.FindExports(ctx, src)
	if err != nil {
		fmt.Fprintf(stderr, "strand import: %v\n", err)
		return 1
	}
	first, last := exports[0].First, exports[len(exports)-1].Last
	total := last - first + 1
	fmt.Fprintf(stderr, "strand import: %s: %d export(s) of strand %s, blocks %d-%d\n", src, len(exports), exports[0].StrandID, first, last)

	// Pass 1: read and check every block; write nothing.
	chainOnly := false
	for i, e := range exports {
		if e.Format == "" {
			data, err := src.Get(ctx, e.Keys[0])
			if err != nil {
				fmt.Fprintf(stderr, "strand import: %v\n", err)
				return 2
			}
			exports[i].Format = export.DetectFormat(data)
		}
		if exports[i].Format == export.FormatJSON {
			chainOnly = true
		}
	}
	if chainOnly {
		if !*allowJSON {
			fmt.Fprintf(stderr, "strand import: refused: the export is in JSON, which loses Ion types, so revision and transactionInfo hashes cannot be recomputed and the documents would not be the ones QLDB hashed. Export again as ION_TEXT or ION_BINARY, or pass --allow-json to import it with only the hash chain checked\n")
			return 1
		}
		fmt.Fprintf(stderr, "strand import: WARNING: JSON export: only the hash chain is checked; revision and transactionInfo hashes cannot be recomputed, and the imported documents carry JSON's types, not the ones QLDB hashed\n")
	}
	checker := &export.Checker{ChainOnly: chainOnly, Digest: digest}
	prog := newImportProgress(stderr, "checked", total)
	err = export.ForEachBlock(ctx, src, exports, func(b *journal.Block, key string) error {
		if err := checker.Check(b, key); err != nil {
			return err
		}
		prog.add(1)
		return nil
	})
	if err == nil {
		err = checker.Finish()
	}
	if err != nil {
		fmt.Fprintf(stderr, "strand import: refused, nothing written: %v\n", err)
		return 1
	}
	prog.end()
	if digest != nil {
		fmt.Fprintf(stderr, "strand import: the journal reaches the digest %x at block %s/%d\n", digest.Digest, digest.Strand, digest.Tip)
	}
	if first != 0 {
		fmt.Fprintf(stderr, "strand import: refused, nothing written: the export starts at block %d; Strand needs the whole journal from block 0 to compute digests and proofs (export from the ledger's creation)\n", first)
		return 1
	}

	// Pass 2: write.
	off := openOffline("strand import", *dataDir, *storeURL, false, stderr)
	if off == nil {
		return 2
	}
	defer off.Close()
	cat, err := ledger.Open(off.st, ledger.Options{Region: *region, AccountID: *account, MaxLedgers: config.Default().MaxLedgers, Shared: off.pg})
	if err != nil {
		fmt.Fprintf(stderr, "strand import: %v\n", err)
		return 2
	}
	// The ledger's data goes under a fresh id first and its catalogue
	// entry last (txn.StageImport): a server sees no ledger until the
	// import is complete, and a rerun removes what a killed import left.
	if e, err := cat.Describe(*name); err == nil {
		if _, err := txn.ClearImport(off.st, off.tips, *name, e.ID); err != nil {
			fmt.Fprintf(stderr, "strand import: %v\n", err)
			return 2
		}
		fmt.Fprintf(stderr, "strand import: refused, nothing written: ledger %s already exists\n", *name)
		return 1
	}
	if gone, err := txn.ClearImport(off.st, off.tips, *name, ""); err != nil {
		fmt.Fprintf(stderr, "strand import: %v\n", err)
		return 2
	} else if gone != "" {
		fmt.Fprintf(stderr, "strand import: removed what an interrupted import of ledger %s left (ledger id %s)\n", *name, gone)
	}
	id := qldbid.New()
	if err := txn.StageImport(off.st, *name, id); err != nil {
		fmt.Fprintf(stderr, "strand import: %v\n", err)
		return 2
	}
	incomplete := func(err error) int {
		fmt.Fprintf(stderr, "strand import: %v\nstrand import: ledger %s was not created; run the import again (it removes what this one wrote)\n", err, *name)
		return 2
	}
	var created time.Time
	prog = newImportProgress(stderr, "written", total)
	batch := off.st.NewBatch()
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		if err := off.st.Apply(batch); err != nil {
			return err
		}
		batch.Close()
		batch = off.st.NewBatch()
		prog.add(uint64(n))
		n = 0
		importPoint("blocks")
		return nil
	}
	defer func() { batch.Close() }()
	err = export.ForEachBlock(ctx, src, exports, func(b *journal.Block, _ string) error {
		seq := b.Address.SequenceNo
		if seq >= uint64(len(checker.Hashes)) || string(checker.Hashes[seq]) != string(b.BlockHash) {
			return fmt.Errorf("block %d changed since it was checked", seq)
		}
		if seq == 0 {
			created = b.Timestamp
			if err := txn.WriteLedgerMeta(off.st, id, b.Address.StrandID); err != nil {
				return err
			}
		}
		raw, err := journal.EncodeBlock(b)
		if err != nil {
			return err
		}
		if err := batch.Set(journal.LedgerLayout(id).Block(seq), raw); err != nil {
			return err
		}
		n++
		if n >= importBatchBlocks {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return incomplete(err)
	}
	prog.end()
	start := time.Now()
	stats, err := txn.ImportDerived(off.st, id, func(s txn.RebuildStats) {
		if s.Phase == "journal" && s.Blocks > 0 {
			importPoint("derived")
		}
		if time.Since(start) >= time.Second {
			fmt.Fprintf(stderr, "strand import: derived records: %s: %d blocks, %d revisions\n", s.Phase, s.Blocks, s.History)
			start = time.Now()
		}
	})
	if err != nil {
		return incomplete(err)
	}
	if _, err := cat.Create(ledger.CreateInput{Name: *name, PermissionsMode: ledger.PermissionsStandard, ID: id}, created); err != nil {
		if _, cerr := txn.ClearImport(off.st, off.tips, *name, ""); cerr != nil {
			fmt.Fprintf(stderr, "strand import: %v\n", cerr)
		}
		fmt.Fprintf(stderr, "strand import: %v\nstrand import: ledger %s was not created\n", err, *name)
		return 2
	}
	importPoint("catalogue")
	// The tip record after the catalogue entry: a record without an entry
	// would be reported as an orphan; an entry without a record gets one
	// when the ledger is opened (journal.Open).
	if off.tips != nil {
		if err := off.tips.Record(store.TipRecord{LedgerID: id, Next: last + 1, Hash: checker.Hashes[last]}); err != nil && !off.pg {
			fmt.Fprintf(stderr, "strand import: %v\n", err)
			return 2
		}
	}
	if _, err := txn.ClearImport(off.st, off.tips, *name, id); err != nil {
		fmt.Fprintf(stderr, "strand import: %v\n", err)
		return 2
	}
	for _, n := range stats.Notes {
		fmt.Fprintf(stderr, "strand import: catalogue: %s\n", n)
	}
	fmt.Fprintf(stdout, "ledger %s: imported %d blocks of strand %s (last block %d, hash %x); %d tables, %d revisions, %d live documents\n",
		*name, total, exports[0].StrandID, last, checker.Hashes[last], stats.Tables, stats.History, stats.Latest)
	return 0
}

func envOr(flagName, def string) string {
	if v := os.Getenv(config.EnvName(flagName)); v != "" {
		return v
	}
	return def
}

// openSource opens s3://BUCKET/PREFIX (through endpoint when given) or a
// local directory.
func openSource(ctx context.Context, from, endpoint, region string) (export.Source, error) {
	if !strings.HasPrefix(from, "s3://") {
		st, err := os.Stat(from)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("--from %s is not a directory", from)
		}
		return &export.DirSource{Dir: from}, nil
	}
	u, err := url.Parse(from)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--from %q is not s3://BUCKET/PREFIX", from)
	}
	clients := &export.SDKClients{Endpoint: endpoint}
	c, err := clients.Reader(ctx, region)
	if err != nil {
		return nil, err
	}
	return &export.S3Source{Client: c, Bucket: u.Host, Prefix: strings.TrimPrefix(u.Path, "/")}, nil
}

// importProgress prints blocks done, the rate and the time left, at most
// once a second.
type importProgress struct {
	w           io.Writer
	what        string
	total, done uint64
	start, last time.Time
}

func newImportProgress(w io.Writer, what string, total uint64) *importProgress {
	now := time.Now()
	return &importProgress{w: w, what: what, total: total, start: now, last: now}
}

func (p *importProgress) add(n uint64) {
	p.done += n
	if now := time.Now(); now.Sub(p.last) >= time.Second {
		p.last = now
		el := now.Sub(p.start)
		fmt.Fprintf(p.w, "strand import: %s %d of %d blocks, %s, %s left\n", p.what, p.done, p.total,
			export.Rate(p.done, el), export.Left(p.done, p.total-p.done, el))
	}
}

func (p *importProgress) end() {
	el := time.Since(p.start)
	fmt.Fprintf(p.w, "strand import: %s %d blocks in %s (%s)\n", p.what, p.done, el.Round(time.Millisecond), export.Rate(p.done, el))
}
