package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// chain is one project's audit chain as the API serves it
// (GET /api/twins/{project}/audit).
type chain struct {
	Project string             `json:"project"`
	Records []twin.AuditRecord `json:"records"`
}

// auditCmd verifies audit chains, from a running sitetwin or a file, and
// reports the first broken link of each chain.
func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, "Usage: sitetwin audit verify [--url URL | --file FILE] [--project ID]")
		return fmt.Errorf("%w: the audit subcommand is verify", errUsage)
	}
	fs := flagSet("audit verify", "[--url URL | --file FILE] [--project ID]", stderr)
	base := fs.String("url", "http://127.0.0.1:8080", "URL of a running sitetwin whose chains to verify")
	file := fs.String("file", "", "verify the chains in this file instead: the JSON of GET /api/twins/{project}/audit, an array of them, or one per line")
	project := fs.String("project", "", "verify only this project")
	timeout := fs.Duration("timeout", 30*time.Second, "HTTP timeout")
	if _, err := parseFlags(fs, args[1:], getenv, 0); err != nil {
		return err
	}
	var chains []chain
	var err error
	if *file != "" {
		chains, err = readChains(*file)
	} else {
		chains, err = fetchChains(ctx, &http.Client{Timeout: *timeout}, strings.TrimRight(*base, "/"), *project)
	}
	if err != nil {
		return err
	}
	if *project != "" {
		chains = slices.DeleteFunc(chains, func(c chain) bool { return c.Project != *project })
		if len(chains) == 0 {
			return fmt.Errorf("no audit chain for project %q", *project)
		}
	}
	broken := 0
	for _, c := range chains {
		if b := twin.VerifyChain(c.Project, c.Records); b != nil {
			broken++
			fmt.Fprintf(stdout, "%s: BROKEN at record %d (seq %d): %s\n", c.Project, b.Index, b.Seq, b.Reason)
			continue
		}
		head := "empty"
		if n := len(c.Records); n > 0 {
			head = "head " + c.Records[n-1].Hash[:16]
		}
		fmt.Fprintf(stdout, "%s: %d records, chain intact (%s)\n", c.Project, len(c.Records), head)
	}
	fmt.Fprintf(stdout, "%d chains verified, %d broken\n", len(chains), broken)
	if broken > 0 {
		return errFailed
	}
	return nil
}

func readChains(file string) ([]chain, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var cs []chain
		if err := json.Unmarshal(b, &cs); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return checkChains(file, cs)
	}
	var cs []chain
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.More() {
		var c chain
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("%s: chain %d: %w", file, len(cs)+1, err)
		}
		cs = append(cs, c)
	}
	return checkChains(file, cs)
}

func checkChains(file string, cs []chain) ([]chain, error) {
	for i, c := range cs {
		if c.Project == "" {
			return nil, fmt.Errorf("%s: chain %d has no project", file, i+1)
		}
	}
	return cs, nil
}

func fetchChains(ctx context.Context, hc *http.Client, base, project string) ([]chain, error) {
	var ids []string
	if project != "" {
		ids = []string{project}
	} else {
		for offset := 0; ; {
			var page struct {
				Total int `json:"total"`
				Items []struct {
					ID string `json:"id"`
				} `json:"items"`
			}
			if err := getJSON(ctx, hc, fmt.Sprintf("%s/api/twins?limit=1000&offset=%d", base, offset), &page); err != nil {
				return nil, err
			}
			for _, it := range page.Items {
				ids = append(ids, it.ID)
			}
			offset += len(page.Items)
			if len(page.Items) == 0 || offset >= page.Total {
				break
			}
		}
	}
	out := make([]chain, 0, len(ids))
	for _, id := range ids {
		var c chain
		if err := getJSON(ctx, hc, base+"/api/twins/"+url.PathEscape(id)+"/audit", &c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func getJSON(ctx context.Context, hc *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("is sitetwin running there? %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(body, &e) //nolint:errcheck // best effort: the status says enough
		return errors.New("GET " + u + ": " + resp.Status + ": " + e.Error)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}
