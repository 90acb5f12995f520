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
	"time"

	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/twin"
)

// RemoteModel is a prediction model served by any HTTP service, so that a
// data scientist's model (in Python, in anything) plugs in without Go.
//
// sitetwin POSTs, as application/json:
//
//	{"model": "<name>", "project": "P-001", "at": "<twin clock, RFC 3339>",
//	 "features": {"spi_t": 0.83, "credit": 91, ...},   (predict.ProjectFeatures)
//	 "sites": [{"id": "P-001-S1",
//	            "features": {"hazards_open_major": 1, "crane_exposure": 1.6, ...}}]}
//	                                                    (predict.SiteFeatures)
//
// "sites" lists every registered site of the project in the twin's order
// (an empty array when there is none), each with the safety model's site
// feature vector, so that a per-site model (a data scientist's safety
// model) can be remote too. It expects 200 with:
//
//	{"values": {"p_on_time": 0.42, ...}, "summary": "one line",
//	 "subject": "", "effects": [{"input": "spi_t", "value": 0.83, "effect": -0.2}]}
//
// A per-site model answers a value per site named value@site beside the
// project's figure, as the built-in safety model does:
// {"values": {"p_incident_30d": 0.12, "p_incident_30d@P-001-S1": 0.12}}.
//
// 204 means "not applicable to this project". Anything else is an error
// naming the status and the start of the body.
type RemoteModel struct {
	name    string
	url     string
	version string
	client  *http.Client
}

var _ predict.Model = (*RemoteModel)(nil)

// NewRemoteModel returns a model that asks the service at rawURL. The
// client's timeout bounds each request (default 5s).
func NewRemoteModel(name, rawURL string, timeout time.Duration) (*RemoteModel, error) {
	if name == "" {
		return nil, errors.New("remote model: a name is required")
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("remote model %s: %q is not an http(s) URL", name, rawURL)
	}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &RemoteModel{name: name, url: u.String(), version: "remote", client: &http.Client{Timeout: timeout}}, nil
}

// Name is the name it was registered under.
func (m *RemoteModel) Name() string { return m.name }

// Version is "remote": the service's own version is its business.
func (m *RemoteModel) Version() string { return m.version }

// Cost is Expensive: a network call never runs inline.
func (m *RemoteModel) Cost() predict.Cost { return predict.Expensive }

// Needs is nil: it may depend on anything (readings only when they change
// an alarm; see the engine).
func (m *RemoteModel) Needs() []string { return nil }

type remoteRequest struct {
	Model    string             `json:"model"`
	Project  string             `json:"project"`
	At       time.Time          `json:"at"`
	Features map[string]float64 `json:"features"`
	Sites    []remoteSite       `json:"sites"`
}

// remoteSite is a registered site of the request with its features.
type remoteSite struct {
	ID       string             `json:"id"`
	Features map[string]float64 `json:"features"`
}

// remoteSites returns the registered sites of v with their features
// (never nil: the request always carries the array).
func remoteSites(v *twin.ProjectView) []remoteSite {
	out := []remoteSite{}
	for i := range v.Sites {
		s := &v.Sites[i]
		if s.Registered {
			out = append(out, remoteSite{ID: s.ID, Features: predict.SiteFeatures(v, s)})
		}
	}
	return out
}

type remoteResponse struct {
	Values  map[string]float64 `json:"values"`
	Summary string             `json:"summary"`
	Subject string             `json:"subject"`
	Effects []twin.Effect      `json:"effects"`
}

// Predict asks the service; it honours ctx's deadline and cancellation.
func (m *RemoteModel) Predict(ctx context.Context, v *twin.ProjectView) (*predict.Prediction, error) {
	body, err := json.Marshal(remoteRequest{Model: m.name, Project: v.ID, At: v.Clock, Features: predict.ProjectFeatures(v), Sites: remoteSites(v)})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("remote model %s: %w", m.name, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("remote model %s: reading the answer: %w", m.name, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNoContent:
		return nil, fmt.Errorf("remote model %s: %w", m.name, predict.ErrNotApplicable)
	default:
		return nil, fmt.Errorf("remote model %s: %s: %.200s", m.name, resp.Status, data)
	}
	var r remoteResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("remote model %s: the answer is not the documented JSON: %w", m.name, err)
	}
	if len(r.Values) == 0 {
		return nil, fmt.Errorf("remote model %s: the answer has no values", m.name)
	}
	return &predict.Prediction{
		Model: m.name, Version: m.version, Project: v.ID, Subject: r.Subject, At: v.Clock, Offset: -1,
		Values: r.Values, Summary: r.Summary, Effects: r.Effects,
	}, nil
}
