package twin

import (
	"hash/fnv"
	"math/rand/v2"
	"testing"
)

// TestHashIDIsFNV1a guards the ids snapshots hold: hashID must stay the
// FNV-1a hash of hash/fnv.
func TestHashIDIsFNV1a(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ids := []string{"", "a", "gw-0142-dust-01-20260612T0318", "µg/m³"}
	for range 1000 {
		b := make([]byte, rng.IntN(80))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		ids = append(ids, string(b))
	}
	for _, id := range ids {
		h := fnv.New64a()
		h.Write([]byte(id))
		if got, want := hashID(id), h.Sum64(); got != want {
			t.Fatalf("hashID(%q) = %x, hash/fnv %x", id, got, want)
		}
	}
}
