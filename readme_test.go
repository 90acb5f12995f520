package sitetwin_test

import (
	"os"
	"strings"
	"testing"

	"github.com/sitetwin/sitetwin/twin"
)

// TestReadmeEvents checks that every event example in the README decodes,
// and that there is one for every event type.
func TestReadmeEvents(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	blocks := strings.Split(string(b), "```json\n")
	for _, blk := range blocks[1:] {
		line := strings.TrimSpace(strings.SplitN(blk, "```", 2)[0])
		e, err := twin.Decode([]byte(line))
		if err != nil {
			t.Errorf("README example does not decode: %v\n%s", err, line)
			continue
		}
		seen[e.Type] = true
	}
	for _, typ := range twin.Types() {
		if !seen[typ] {
			t.Errorf("README has no example of %s", typ)
		}
	}
}
