package connectors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// httpPlatform is the HTTP JSON client both reference platforms share.
type httpPlatform struct {
	name   string
	base   string
	client *http.Client
}

func newHTTPPlatform(name, rawURL string, timeout time.Duration) (httpPlatform, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return httpPlatform{}, fmt.Errorf("%s platform: %q is not an http(s) URL", name, rawURL)
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return httpPlatform{name: name, base: strings.TrimRight(u.String(), "/"), client: &http.Client{Timeout: timeout}}, nil
}

// apiError is the documented error body.
type apiError struct {
	Error    string `json:"error"`
	Code     string `json:"code"`
	Existing string `json:"existing"`
}

// do sends a request and decodes a 2xx answer into out. A 4xx is a
// *Refusal; anything else wraps ErrTransient.
func (h httpPlatform) do(ctx context.Context, method, path, key string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s platform: encode request: %w", h.name, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, rd)
	if err != nil {
		return fmt.Errorf("%s platform: %w", h.name, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s platform %s %s: %w: %w", h.name, method, path, ErrTransient, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s platform %s %s: reading the answer: %w: %w", h.name, method, path, ErrTransient, err)
	}
	return decodeAnswer(h.name, method+" "+path, resp.StatusCode, data, out)
}

// decodeAnswer classifies an answer by status and decodes its body.
func decodeAnswer(name, what string, status int, data []byte, out any) error {
	switch {
	case status >= 200 && status < 300:
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s platform %s: %d with an answer that is not the documented JSON (%.100q): %w: %w", name, what, status, data, ErrTransient, err)
		}
		return nil
	case status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout:
		var e apiError
		if err := json.Unmarshal(data, &e); err != nil || e.Error == "" {
			e = apiError{Error: fmt.Sprintf("%d %.200s", status, data), Code: "http_" + strconv.Itoa(status)}
		}
		return &Refusal{Status: status, Code: e.Code, Reason: e.Error, Existing: e.Existing}
	}
	return fmt.Errorf("%s platform %s: %d %.200s: %w", name, what, status, data, ErrTransient)
}

// HTTPFiling is the client of the reference filing platform's HTTP JSON
// API (package counterparts; `sitetwin serve filing`).
type HTTPFiling struct{ h httpPlatform }

var _ FilingPlatform = (*HTTPFiling)(nil)

// NewHTTPFiling returns a client of the filing platform at baseURL; timeout
// bounds each request (default 10s).
func NewHTTPFiling(baseURL string, timeout time.Duration) (*HTTPFiling, error) {
	h, err := newHTTPPlatform("filing", baseURL, timeout)
	if err != nil {
		return nil, err
	}
	return &HTTPFiling{h: h}, nil
}

type filingReceiptJSON struct {
	Filing    string    `json:"filing"`
	Receipt   string    `json:"receipt"`
	Stage     string    `json:"stage"`
	Submitted time.Time `json:"submitted"`
}

// Submit POSTs /v1/filings.
func (f *HTTPFiling) Submit(ctx context.Context, key string, req FilingRequest) (FilingReceipt, error) {
	var r filingReceiptJSON
	if err := f.h.do(ctx, http.MethodPost, "/v1/filings", key, req, &r); err != nil {
		return FilingReceipt{}, err
	}
	if r.Filing == "" || r.Submitted.IsZero() {
		return FilingReceipt{}, fmt.Errorf("filing platform: an acceptance without a filing id or time: %w", ErrTransient)
	}
	return FilingReceipt(r), nil
}

type changesJSON struct {
	Changes []struct {
		Seq       int64     `json:"seq"`
		Filing    string    `json:"filing"`
		Reference string    `json:"reference"`
		Project   string    `json:"project"`
		Kind      string    `json:"kind"`
		Stage     string    `json:"stage"`
		Status    string    `json:"status"`
		Reasons   []string  `json:"reasons"`
		At        time.Time `json:"at"`
	} `json:"changes"`
	Next int64 `json:"next"`
}

// Changes GETs /v1/changes?after=N.
func (f *HTTPFiling) Changes(ctx context.Context, after int64) ([]FilingChange, int64, error) {
	var page changesJSON
	if err := f.h.do(ctx, http.MethodGet, "/v1/changes?after="+strconv.FormatInt(after, 10), "", nil, &page); err != nil {
		if errors.Is(err, ErrRefused) {
			return nil, after, fmt.Errorf("%w: %w", ErrTransient, err)
		}
		return nil, after, err
	}
	out := make([]FilingChange, 0, len(page.Changes))
	for _, c := range page.Changes {
		out = append(out, FilingChange(c))
	}
	if page.Next < after {
		page.Next = after
	}
	return out, page.Next, nil
}

// HTTPFunds is the client of the reference fund-supervision platform's
// HTTP JSON API (package counterparts; `sitetwin serve funds`).
type HTTPFunds struct{ h httpPlatform }

var _ FundPlatform = (*HTTPFunds)(nil)

// NewHTTPFunds returns a client of the fund platform at baseURL; timeout
// bounds each request (default 10s).
func NewHTTPFunds(baseURL string, timeout time.Duration) (*HTTPFunds, error) {
	h, err := newHTTPPlatform("fund", baseURL, timeout)
	if err != nil {
		return nil, err
	}
	return &HTTPFunds{h: h}, nil
}

type paymentJSON struct {
	Receipt string    `json:"receipt"`
	Account string    `json:"account"`
	PaidAt  time.Time `json:"paid_at"`
}

// Disburse POSTs /v1/disbursements.
func (f *HTTPFunds) Disburse(ctx context.Context, key string, d Disbursement) (DisbursementReceipt, error) {
	var p paymentJSON
	if err := f.h.do(ctx, http.MethodPost, "/v1/disbursements", key, d, &p); err != nil {
		return DisbursementReceipt{}, err
	}
	if p.Receipt == "" || p.PaidAt.IsZero() {
		return DisbursementReceipt{}, fmt.Errorf("fund platform: a payment without a receipt or time: %w", ErrTransient)
	}
	return DisbursementReceipt(p), nil
}
