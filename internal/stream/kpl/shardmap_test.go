package kpl

import (
	"crypto/md5"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// evenShards splits the hash key space into n open shards, as CreateStream
// does, plus one closed parent shard covering everything.
func evenShards(n int) []types.Shard {
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	step := new(big.Int).Div(space, big.NewInt(int64(n)))
	shards := []types.Shard{{
		ShardId:             aws.String("shardId-closed-parent"),
		HashKeyRange:        &types.HashKeyRange{StartingHashKey: aws.String("0"), EndingHashKey: aws.String(maxHashKey.String())},
		SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("1"), EndingSequenceNumber: aws.String("2")},
	}}
	for i := 0; i < n; i++ {
		start := new(big.Int).Mul(step, big.NewInt(int64(i)))
		end := new(big.Int).Sub(new(big.Int).Add(start, step), big.NewInt(1))
		if i == n-1 {
			end = maxHashKey
		}
		shards = append(shards, types.Shard{
			ShardId:             aws.String(fmt.Sprintf("shardId-%012d", i+1)),
			HashKeyRange:        &types.HashKeyRange{StartingHashKey: aws.String(start.String()), EndingHashKey: aws.String(end.String())},
			SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("3")},
		})
	}
	return shards
}

func mustMap(t testing.TB, shards []types.Shard) *ShardMap {
	t.Helper()
	m, err := NewShardMap(shards)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// shardOfHash is the reference routing, with math/big.
func shardOfHash(shards []types.Shard, h *big.Int) string {
	for _, s := range shards {
		if s.SequenceNumberRange.EndingSequenceNumber != nil {
			continue
		}
		lo, _ := new(big.Int).SetString(*s.HashKeyRange.StartingHashKey, 10)
		hi, _ := new(big.Int).SetString(*s.HashKeyRange.EndingHashKey, 10)
		if h.Cmp(lo) >= 0 && h.Cmp(hi) <= 0 {
			return *s.ShardId
		}
	}
	return ""
}

func TestShardForMatchesReference(t *testing.T) {
	shards := evenShards(4)
	m := mustMap(t, shards)
	if got := m.ShardIDs(); len(got) != 4 || got[0] != "shardId-000000000001" || got[3] != "shardId-000000000004" {
		t.Fatalf("open shards %v", got)
	}
	seen := map[string]int{}
	for i := 0; i < 4000; i++ {
		pk := fmt.Sprintf("%064x", i*7919)
		sum := md5.Sum([]byte(pk))
		want := shardOfHash(shards, new(big.Int).SetBytes(sum[:]))
		got, ok := m.ShardFor(pk)
		if !ok || got != want {
			t.Fatalf("%s: ShardFor %s %v, want %s", pk, got, ok, want)
		}
		if HashKeyFor(pk) != new(big.Int).SetBytes(sum[:]).String() {
			t.Fatalf("HashKeyFor(%s) = %s", pk, HashKeyFor(pk))
		}
		seen[got]++
	}
	if len(seen) != 4 {
		t.Errorf("keys spread over %d shards: %v", len(seen), seen)
	}
}

func TestShardRangeBoundaries(t *testing.T) {
	shards := evenShards(3)
	m := mustMap(t, shards)
	for _, s := range shards[1:] {
		id := *s.ShardId
		ehk := m.ExplicitHashKeyFor(id)
		if ehk != *s.HashKeyRange.StartingHashKey {
			t.Errorf("%s: ExplicitHashKeyFor %s, want start %s", id, ehk, *s.HashKeyRange.StartingHashKey)
		}
		for _, k := range []string{*s.HashKeyRange.StartingHashKey, *s.HashKeyRange.EndingHashKey} {
			h, err := parseHashKey(k)
			if err != nil {
				t.Fatal(err)
			}
			if i, ok := m.shardForHash(h); !ok || m.ranges[i].id != id {
				t.Errorf("hash key %s not routed to %s", k, id)
			}
		}
	}
	if m.ExplicitHashKeyFor("shardId-closed-parent") != "" || m.ExplicitHashKeyFor("nope") != "" {
		t.Error("ExplicitHashKeyFor of a closed or unknown shard is not empty")
	}
}

func TestShardMapGapsAndErrors(t *testing.T) {
	// A map with only the upper half of the key space.
	gap := []types.Shard{{
		ShardId:      aws.String("upper"),
		HashKeyRange: &types.HashKeyRange{StartingHashKey: aws.String(new(big.Int).Lsh(big.NewInt(1), 127).String()), EndingHashKey: aws.String(maxHashKey.String())},
	}}
	m := mustMap(t, gap)
	var lower, upper int
	for i := 0; i < 200; i++ {
		if _, ok := m.ShardFor(fmt.Sprint(i)); ok {
			upper++
		} else {
			lower++
		}
	}
	if lower == 0 || upper == 0 {
		t.Errorf("gap routing: %d unroutable, %d routed", lower, upper)
	}
	if empty := mustMap(t, nil); len(empty.ShardIDs()) != 0 {
		t.Error("empty map has shards")
	} else if _, ok := empty.ShardFor("x"); ok {
		t.Error("empty map routed a key")
	}

	bad := map[string][]types.Shard{
		"no id":       {{HashKeyRange: gap[0].HashKeyRange}},
		"no range":    {{ShardId: aws.String("s")}},
		"not decimal": {{ShardId: aws.String("s"), HashKeyRange: &types.HashKeyRange{StartingHashKey: aws.String("0x10"), EndingHashKey: aws.String("20")}}},
		"too large":   {{ShardId: aws.String("s"), HashKeyRange: &types.HashKeyRange{StartingHashKey: aws.String("0"), EndingHashKey: aws.String(new(big.Int).Lsh(big.NewInt(1), 128).String())}}},
		"negative":    {{ShardId: aws.String("s"), HashKeyRange: &types.HashKeyRange{StartingHashKey: aws.String("-1"), EndingHashKey: aws.String("20")}}},
		"reversed":    {{ShardId: aws.String("s"), HashKeyRange: &types.HashKeyRange{StartingHashKey: aws.String("20"), EndingHashKey: aws.String("10")}}},
		"overlap": {
			{ShardId: aws.String("a"), HashKeyRange: &types.HashKeyRange{StartingHashKey: aws.String("0"), EndingHashKey: aws.String("20")}},
			{ShardId: aws.String("b"), HashKeyRange: &types.HashKeyRange{StartingHashKey: aws.String("20"), EndingHashKey: aws.String("30")}},
		},
		"duplicate": {
			{ShardId: aws.String("a"), HashKeyRange: &types.HashKeyRange{StartingHashKey: aws.String("0"), EndingHashKey: aws.String("20")}},
			{ShardId: aws.String("a"), HashKeyRange: &types.HashKeyRange{StartingHashKey: aws.String("21"), EndingHashKey: aws.String("30")}},
		},
	}
	for name, s := range bad {
		if _, err := NewShardMap(s); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "kpl: ") {
			t.Errorf("%s: error %q lacks the prefix", name, err)
		}
	}
}
