package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sitetwin/sitetwin/streams"
)

// TestStateDumpRestore: a dump of one cluster, restored into an empty one,
// gives an engine there the same twins: its own dump is byte-identical. A
// cluster that already holds state is refused unless forced.
func TestStateDumpRestore(t *testing.T) {
	a := startTestApp(t, func(c *runConfig) { c.Projects, c.Rate, c.Seed = 8, 0, 3 })
	adm := admin(t, a.KafkaAddr)
	caughtUp(t, adm)
	dir := t.TempDir()
	first := filepath.Join(dir, "first.json")
	noEnv := func(string) string { return "" }
	var out bytes.Buffer
	if code := cli(context.Background(), []string{"state", "dump", "--brokers", a.KafkaAddr, "--out", first}, &out, &out, noEnv); code != 0 {
		t.Fatalf("dump: %s", out.String())
	}

	empty, err := streams.NewBroker(streams.BrokerConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	out.Reset()
	if code := cli(context.Background(), []string{"state", "restore", "--brokers", empty.Addr(), "--in", first}, &out, &out, noEnv); code != 0 || !strings.Contains(out.String(), "restored 8 twins") {
		t.Fatalf("restore exit %d: %s", code, out.String())
	}
	out.Reset()
	if code := cli(context.Background(), []string{"state", "restore", "--brokers", empty.Addr(), "--in", first}, &out, &out, noEnv); code != 1 || !strings.Contains(out.String(), "--force") {
		t.Fatalf("restore over state: exit %d: %s", code, out.String())
	}

	b := startTestApp(t, func(c *runConfig) { c.Brokers, c.Projects, c.Instance = []string{empty.Addr()}, 0, "restored" })
	eventually(t, func() string {
		if st := b.Engine.Stats(); st.Twins != 8 || st.Warming != 0 {
			return "restored twins not yet listed"
		}
		return ""
	})
	second := filepath.Join(dir, "second.json")
	out.Reset()
	if code := cli(context.Background(), []string{"state", "dump", "--brokers", empty.Addr(), "--out", second}, &out, &out, noEnv); code != 0 {
		t.Fatalf("second dump: %s", out.String())
	}
	x, _ := os.ReadFile(first)
	y, _ := os.ReadFile(second)
	if !bytes.Equal(x, y) || len(x) < 1000 {
		t.Fatalf("the restored cluster dumps differently (%d vs %d bytes)", len(x), len(y))
	}
	// and the API serves the restored twins
	if v, ok := getTwin(t, "http://"+b.HTTPAddr, "P-001"); !ok || !v.Registered {
		t.Fatal("restored twin P-001 not served")
	}
}

// caughtUp waits until the engine has committed every input record.
func caughtUp(t *testing.T, adm *kadm.Client) {
	t.Helper()
	eventually(t, func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		behind, total, err := progress(ctx, adm)
		if err != nil || behind != 0 || total == 0 {
			return "input not all committed"
		}
		return ""
	})
}
