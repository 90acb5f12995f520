package statefun_test

import (
	"flag"
	"io"
	"log"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of the current state version")

// TestMain silences the SDK, which logs through the standard logger on
// every registration and every call that lacks state, unless -v.
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		log.SetOutput(io.Discard)
	}
	os.Exit(m.Run())
}
