package main

import (
	"fmt"
	"testing"

	"github.com/sitetwin/sitetwin/streams"
)

// The hasher given to goka puts every key where Kafka's default
// partitioner, and so the publisher of the input records, puts it:
// goka takes int32(Sum32()) modulo the partition count (after negating a
// negative value, which Sum32 never gives).
func TestKafkaHashPartitionsLikeKafka(t *testing.T) {
	keys := []string{"", "*", "a", "ab", "abc", "abcd", "abcde", "P-001", "sim-1-P0042", "项目-深圳"}
	for i := range 2000 {
		keys = append(keys, fmt.Sprintf("P-%05d", i))
	}
	for _, n := range []int32{1, 2, 3, 6, 7, 12, 64} {
		for _, k := range keys {
			h := newKafkaHash()
			h.Write([]byte(k))
			s := int32(h.Sum32())
			if s < 0 {
				t.Fatalf("Sum32(%q) = %d is negative as int32", k, s)
			}
			if got, want := s%n, streams.Partition(k, n); got != want {
				t.Fatalf("key %q, %d partitions: goka would pick %d, Kafka's partitioner %d", k, n, got, want)
			}
		}
	}
}

func TestKafkaHashReset(t *testing.T) {
	h := newKafkaHash()
	h.Write([]byte("P-001"))
	a := h.Sum32()
	h.Reset()
	h.Write([]byte("P-"))
	h.Write([]byte("001"))
	if b := h.Sum32(); a != b {
		t.Fatalf("Sum32 after Reset and two writes = %d, want %d", b, a)
	}
	if got := h.Sum(nil); len(got) != h.Size() {
		t.Fatalf("Sum has %d bytes, Size says %d", len(got), h.Size())
	}
}
