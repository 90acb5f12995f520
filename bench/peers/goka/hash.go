package main

import (
	"hash"

	"github.com/sitetwin/sitetwin/streams"
)

// kafkaHash is the hash goka partitions by: Kafka's default partitioner,
// murmur2 of the key with the sign bit cleared, so that goka (which takes
// the hash modulo the partition count) puts a key on the partition that
// franz-go, the Java client and sitetwin's publisher put it on
// (streams.Partition). goka's default is FNV-1a: with it, the loopback
// messages and the group table's changelog records of a project would land
// on another partition than the project's input records, whose partition
// processor holds its state.
type kafkaHash struct{ b []byte }

var _ hash.Hash32 = (*kafkaHash)(nil)

// newKafkaHash is the hasher given to goka.WithHasher.
func newKafkaHash() hash.Hash32 { return new(kafkaHash) }

func (h *kafkaHash) Write(p []byte) (int, error) { h.b = append(h.b, p...); return len(p), nil }
func (h *kafkaHash) Sum32() uint32               { return streams.Murmur2(h.b) & 0x7fffffff }
func (h *kafkaHash) Reset()                      { h.b = h.b[:0] }
func (h *kafkaHash) Size() int                   { return 4 }
func (h *kafkaHash) BlockSize() int              { return 4 }

func (h *kafkaHash) Sum(b []byte) []byte {
	s := h.Sum32()
	return append(b, byte(s>>24), byte(s>>16), byte(s>>8), byte(s))
}
