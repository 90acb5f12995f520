package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServeFunds runs `sitetwin serve funds` in-process and pays through
// its API.
func TestServeFunds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan int)
	go func() {
		done <- cli(ctx, []string{"serve", "funds", "--listen", "127.0.0.1:0"}, io.Discard, out, func(string) string { return "" })
	}()
	var url string
	waitUntil(t, 10*time.Second, func() string {
		if m := regexp.MustCompile(`url=(http://\S+)/`).FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			return ""
		}
		return "not listening yet: " + out.String()
	})
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/disbursements", strings.NewReader(`{"project":"P-1","milestone":"M1","amount_cny":100,"decision":"d1"}`))
	req.Header.Set("Idempotency-Key", "k1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !bytes.Contains(b, []byte(`"receipt":"FR-`)) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	if code := cli(context.Background(), []string{"serve", "bank"}, io.Discard, io.Discard, func(string) string { return "" }); code != 2 {
		t.Fatalf("serve bank: exit %d, want 2", code)
	}
}
