package journal

import (
	"fmt"
	"sync"

	"github.com/strand-db/strand/internal/ionvalue"
)

// The direct encoders below write a block (Block.Ion) and a revision
// (Revision.Ion) straight into a pooled Ion binary encoder, without
// building the intermediate ionvalue tree. Their bytes are exactly
// ionvalue.MarshalBinary of those values (same local symbol order, same
// lengths, same errors for the same inputs); TestDirectEncodersMatchIon
// compares the two over random blocks and revisions and the reference
// blocks in testdata. Only the document data and redactionInfo, which have
// no fixed shape, go through the generic Value encoder, at the depth they
// have in the whole value.

var encoders = sync.Pool{New: func() any { return ionvalue.NewEncoder(ionvalue.IonGoStyle) }}

func getEncoder() *ionvalue.Encoder {
	w := encoders.Get().(*ionvalue.Encoder)
	w.Reset()
	return w
}

// putEncoder returns w to the pool unless a rare huge value grew its
// buffers beyond what is worth keeping.
func putEncoder(w *ionvalue.Encoder) {
	if w.Reusable() {
		encoders.Put(w)
	}
}

// EncodeBlock stores a block as the Ion binary of its GetBlock shape: the
// bytes of ionvalue.MarshalBinary(b.Ion()).
func EncodeBlock(b *Block) ([]byte, error) {
	return encodeWith(func(w *ionvalue.Encoder) error { return writeBlock(w, b) })
}

// EncodeRevision returns the Ion binary of r.Ion(addr) (the committed-view
// and history record of a revision written by the block at addr): the
// bytes of ionvalue.MarshalBinary(r.Ion(addr)).
func EncodeRevision(r Revision, addr BlockAddress) ([]byte, error) {
	return encodeWith(func(w *ionvalue.Encoder) error { return writeRevision(w, r, addr, 0) })
}

// AppendRevision appends EncodeRevision(r, addr) to dst, reusing dst's
// memory (for a caller that hashes or compares the encoding).
func AppendRevision(dst []byte, r Revision, addr BlockAddress) ([]byte, error) {
	w := getEncoder()
	defer putEncoder(w)
	if err := writeRevision(w, r, addr, 0); err != nil {
		return dst, err
	}
	return w.AppendBytes(dst), nil
}

// encodeWith runs write on a pooled encoder and returns what it wrote.
func encodeWith(write func(w *ionvalue.Encoder) error) ([]byte, error) {
	w := getEncoder()
	defer putEncoder(w)
	if err := write(w); err != nil {
		return nil, err
	}
	return w.Bytes(), nil
}

func writeAddress(w *ionvalue.Encoder, a BlockAddress) {
	w.BeginStruct()
	w.FieldName("strandId")
	w.WriteString(a.StrandID)
	w.FieldName("sequenceNo")
	w.WriteInt(int64(a.SequenceNo))
	w.End()
}

// writeBlock writes Block.Ion's shape (see there).
func writeBlock(w *ionvalue.Encoder, b *Block) error {
	w.BeginStruct()
	if err := WriteBlockHeader(w, b); err != nil {
		return err
	}
	if len(b.Revisions) > 0 {
		w.FieldName("revisions")
		w.BeginList()
		for i, r := range b.Revisions {
			// block struct (0) -> revisions list (1) -> revision (2)
			if err := writeRevision(w, r, b.Address, 2); err != nil {
				return fmt.Errorf("field %q: element %d: %w", "revisions", i, err)
			}
		}
		w.End()
	}
	if b.RedactionInfo != nil {
		if err := w.WriteField("redactionInfo", b.RedactionInfo, 0); err != nil {
			return err
		}
	}
	w.End()
	return w.Err()
}

// WriteTransactionInfo writes TransactionInfo.Ion's shape (see there) into
// w: the one writer of a block's transactionInfo, for the stored block and
// the stream's BLOCK_SUMMARY record alike. Times are written in UTC at
// millisecond precision; in IonJavaStyle a year outside 1..9999 and in
// IonGoStyle a document id that reads as a symbol id ($n) are refused.
// On error w must not be used further.
func WriteTransactionInfo(w *ionvalue.Encoder, ti TransactionInfo) error {
	w.BeginStruct()
	w.FieldName("statements")
	w.BeginList()
	for i, s := range ti.Statements {
		w.BeginStruct()
		w.FieldName("statement")
		w.WriteString(s.Statement)
		w.FieldName("startTime")
		if err := w.WriteTimeMillis(s.StartTime); err != nil {
			return fmt.Errorf("statement %d startTime: %w", i, err)
		}
		w.FieldName("statementDigest")
		w.WriteBlob(s.StatementDigest)
		w.End()
	}
	w.End()
	if len(ti.Documents) > 0 {
		w.FieldName("documents")
		w.BeginStruct()
		for _, d := range ti.Documents {
			if err := w.StructField(d.DocumentID); err != nil {
				return fmt.Errorf("field %q: %w", "documents", err)
			}
			w.BeginStruct()
			w.FieldName("tableName")
			w.WriteString(d.TableName)
			w.FieldName("tableId")
			w.WriteString(d.TableID)
			w.FieldName("statements")
			w.BeginList()
			for _, n := range d.Statements {
				w.WriteInt(int64(n))
			}
			w.End()
			w.End()
		}
		w.End()
	}
	w.End()
	return nil
}

// writeRevision writes Revision.Ion's shape (see there) for a revision
// struct that sits inside depth containers.
func writeRevision(w *ionvalue.Encoder, r Revision, addr BlockAddress, depth int) error {
	w.BeginStruct()
	if r.IsSystem() {
		w.FieldName("hash")
		w.WriteBlob(r.Hash)
		w.End()
		return nil
	}
	w.FieldName("blockAddress")
	writeAddress(w, addr)
	w.FieldName("hash")
	w.WriteBlob(r.Hash)
	if r.Data != nil {
		if err := w.WriteField("data", r.Data, depth); err != nil {
			return err
		}
	} else if r.DataHash != nil {
		w.FieldName("dataHash")
		w.WriteBlob(r.DataHash)
	}
	w.FieldName("metadata")
	w.BeginStruct()
	w.FieldName("id")
	w.WriteString(r.Metadata.ID)
	w.FieldName("version")
	w.WriteInt(int64(r.Metadata.Version))
	w.FieldName("txTime")
	if err := w.WriteTimeMillis(r.Metadata.TxTime); err != nil {
		return fmt.Errorf("field %q: %w", "metadata", err)
	}
	w.FieldName("txId")
	w.WriteString(r.Metadata.TxID)
	w.End()
	w.End()
	return nil
}

// WriteBlockHeader writes the fields every shape of a block starts with,
// into the struct w is in: blockAddress, transactionId, blockTimestamp
// (UTC, milliseconds), blockHash, entriesHash, previousBlockHash,
// entriesHashList and transactionInfo. It is the one writer of them for
// the stored block (GetBlock's shape) and the stream's BLOCK_SUMMARY
// payload. On error w must not be used further.
func WriteBlockHeader(w *ionvalue.Encoder, b *Block) error {
	w.FieldName("blockAddress")
	writeAddress(w, b.Address)
	w.FieldName("transactionId")
	w.WriteString(b.TransactionID)
	w.FieldName("blockTimestamp")
	if err := w.WriteTimeMillis(b.Timestamp); err != nil {
		return fmt.Errorf("field %q: %w", "blockTimestamp", err)
	}
	w.FieldName("blockHash")
	w.WriteBlob(b.BlockHash)
	w.FieldName("entriesHash")
	w.WriteBlob(b.EntriesHash)
	w.FieldName("previousBlockHash")
	w.WriteBlob(b.PreviousBlockHash)
	w.FieldName("entriesHashList")
	w.BeginList()
	for _, h := range b.EntriesHashList {
		w.WriteBlob(h)
	}
	w.End()
	w.FieldName("transactionInfo")
	if err := WriteTransactionInfo(w, b.TransactionInfo); err != nil {
		return fmt.Errorf("field %q: %w", "transactionInfo", err)
	}
	return nil
}
