package dashboard

import (
	"encoding/json"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sitetwin/sitetwin/twin"
)

// TestOpenAPIDescribesEveryRoute checks the hand-written OpenAPI document
// against the routes the server registers: every API route described with
// its path parameters, nothing described that is not served, every $ref
// resolved.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			Summary    string `json:"summary"`
			Parameters []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
		Components struct {
			Schemas   map[string]json.RawMessage `json:"schemas"`
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	s, err := New(Config{Source: newSource(t), Open: true, Stats: func() any { return nil }, Metrics: nil})
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, rt := range s.routes() {
		if rt.pattern == "/{$}" || strings.HasPrefix(rt.pattern, "/static/") {
			continue // the page
		}
		served[rt.pattern] = true
	}
	served["/metrics"] = true // served when the engine's registry is given
	for p := range served {
		item, ok := doc.Paths[p]
		if !ok {
			t.Errorf("route %s is not described", p)
			continue
		}
		op, ok := item["get"]
		if !ok {
			t.Errorf("%s: no get operation", p)
			continue
		}
		if op.Summary == "" || len(op.Responses) == 0 {
			t.Errorf("%s: no summary or responses", p)
		}
		if _, ok := op.Responses["200"]; !ok && p != "/ws" {
			t.Errorf("%s: no 200 response", p)
		}
		for _, m := range regexp.MustCompile(`\{(\w+)\}`).FindAllStringSubmatch(p, -1) {
			if !slices.ContainsFunc(op.Parameters, func(q struct {
				Name string `json:"name"`
				In   string `json:"in"`
			}) bool {
				return q.Name == m[1] && q.In == "path"
			}) {
				t.Errorf("%s: path parameter %s not described", p, m[1])
			}
		}
	}
	for p := range doc.Paths {
		if !served[p] {
			t.Errorf("%s is described but not served", p)
		}
	}
	for _, m := range regexp.MustCompile(`"#/components/(schemas|responses)/(\w+)"`).FindAllStringSubmatch(string(openapiJSON), -1) {
		set := doc.Components.Schemas
		if m[1] == "responses" {
			set = doc.Components.Responses
		}
		if _, ok := set[m[2]]; !ok {
			t.Errorf("unresolved $ref %s/%s", m[1], m[2])
		}
	}
}

// TestOpenAPIDescribesEveryField checks that every JSON field of the Go
// types the API returns is a property of the schema that describes it
// (allOf parts and embedded structs included), so that a field added to a
// view cannot go undocumented.
func TestOpenAPIDescribesEveryField(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]schemaDoc `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	schemas := doc.Components.Schemas
	var props func(name string) map[string]bool
	props = func(name string) map[string]bool {
		s, ok := schemas[name]
		if !ok {
			t.Fatalf("no schema %s", name)
		}
		out := map[string]bool{}
		for k := range s.Properties {
			out[k] = true
		}
		for _, part := range s.AllOf {
			if part.Ref != "" {
				maps.Copy(out, props(strings.TrimPrefix(part.Ref, "#/components/schemas/")))
			}
			for k := range part.Properties {
				out[k] = true
			}
		}
		return out
	}
	for _, c := range []struct {
		schema string
		v      any
	}{
		{"ProjectView", twin.ProjectView{}},
		{"Funds", twin.Funds{}},
		{"WagePeriod", twin.WagePeriod{}},
		{"Milestone", twin.Milestone{}},
		{"Decision", twin.Decision{}},
		{"Filing", twin.Filing{}},
		{"FilingStep", twin.FilingStep{}},
		{"Alarm", twin.Alarm{}},
		{"Alert", AlertItem{}},
		{"DrillStatus", DrillStatus{}},
		{"DrillSiteLevel", DrillSiteLevel{}},
		{"PublicProject", PublicProject{}},
		{"PublicRow", PublicRow{}},
		{"PublicSite", PublicSite{}},
		{"PublicFiling", PublicFiling{}},
		{"PublicFilingStep", PublicFilingStep{}},
	} {
		t.Run(c.schema, func(t *testing.T) {
			have := props(c.schema)
			for _, f := range jsonFields(reflect.TypeOf(c.v)) {
				if !have[f] {
					t.Errorf("field %s of %T is not described in schema %s", f, c.v, c.schema)
				}
			}
		})
	}
}

type schemaDoc struct {
	Ref        string                     `json:"$ref"`
	Properties map[string]json.RawMessage `json:"properties"`
	AllOf      []schemaDoc                `json:"allOf"`
}

// jsonFields lists the names encoding/json gives the fields of a struct
// type, embedded structs flattened.
func jsonFields(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}
