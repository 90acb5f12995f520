package streams

// Partition returns the partition of a project id among n partitions, the
// way Kafka's default partitioner places a record keyed by it (murmur2 of
// the key, sign bit cleared, modulo n), so that records keyed by project id
// by any Kafka-default client land where the engine expects them.
func Partition(project string, n int32) int32 {
	if n <= 0 {
		return 0
	}
	return int32(Murmur2([]byte(project))&0x7fffffff) % n
}

// Murmur2 is the 32-bit MurmurHash2 with the seed Kafka uses (0x9747b28c),
// the hash of Kafka's default partitioner (Utils.murmur2); other clients
// that must place keys as the engine does (the goka peer of the benchmark)
// partition by it.
func Murmur2(b []byte) uint32 {
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
