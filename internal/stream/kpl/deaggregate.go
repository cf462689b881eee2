package kpl

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"

	"github.com/awslabs/kinesis-aggregation/go/v2/records"
	"github.com/golang/protobuf/proto"
)

// Deaggregate returns the user records carried by the data of one Kinesis
// record: the records of a KPL aggregate (magic, protobuf, MD5 of the
// protobuf), each with its partition key, or the record itself (with
// partitionKey) when data is not an aggregate. An aggregate whose MD5 does
// not match, or whose protobuf does not parse, is an error; KCL would read
// such data as one raw record, but no writer of this package produces it.
func Deaggregate(data []byte, partitionKey string) ([]UserRecord, error) {
	if len(data) < len(Magic)+md5Len || !bytes.Equal(data[:len(Magic)], Magic) {
		return []UserRecord{{PartitionKey: partitionKey, Data: data}}, nil
	}
	pb := data[len(Magic) : len(data)-md5Len]
	if sum := md5.Sum(pb); !bytes.Equal(sum[:], data[len(data)-md5Len:]) {
		return nil, errors.New("kpl: aggregated record: MD5 mismatch")
	}
	var agg records.AggregatedRecord
	if err := proto.Unmarshal(pb, &agg); err != nil {
		return nil, fmt.Errorf("kpl: aggregated record: %w", err)
	}
	out := make([]UserRecord, len(agg.Records))
	for i, r := range agg.Records {
		k := r.GetPartitionKeyIndex()
		if k >= uint64(len(agg.PartitionKeyTable)) {
			return nil, fmt.Errorf("kpl: aggregated record: partition key index %d of %d", k, len(agg.PartitionKeyTable))
		}
		out[i] = UserRecord{PartitionKey: agg.PartitionKeyTable[k], Data: r.Data, Seq: uint64(i)}
	}
	return out, nil
}
