package main

import "hash"

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
func (h *kafkaHash) Sum32() uint32               { return murmur2(h.b) & 0x7fffffff }
func (h *kafkaHash) Reset()                      { h.b = h.b[:0] }
func (h *kafkaHash) Size() int                   { return 4 }
func (h *kafkaHash) BlockSize() int              { return 4 }

func (h *kafkaHash) Sum(b []byte) []byte {
	s := h.Sum32()
	return append(b, byte(s>>24), byte(s>>16), byte(s>>8), byte(s))
}

// murmur2 is the 32-bit MurmurHash2 with the seed Kafka uses (0x9747b28c),
// as in Kafka's Utils.murmur2.
func murmur2(b []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	h := uint32(seed) ^ uint32(len(b))
	for len(b) >= 4 {
		k := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
		b = b[4:]
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
