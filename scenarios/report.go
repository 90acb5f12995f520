package scenarios

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

//go:embed report.html.tmpl
var reportTemplate string

// maxReportActions bounds the plan rows of the report (the whole plan is in
// plan.json).
const maxReportActions = 1000

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("01-02 15:04Z")
	},
	"f1": func(x float64) string { return fmt.Sprintf("%.1f", x) },
}).Parse(reportTemplate))

// Report writes the drill's report as one self-contained HTML page (inline
// SVG and CSS, no script, nothing fetched): the KPIs, a map with the track
// and the sites coloured by their worst level, a chart of wind and active
// stop-work orders over time, the dispatch table, the district summary and
// the plan. The same result gives the same bytes.
func Report(res *Result) ([]byte, error) {
	tl, pl := res.Timeline, res.Plan
	v := reportView{Timeline: tl, Plan: pl, Map: mapSVG(res), Chart: chartSVG(tl)}
	v.Actions = pl.Actions
	if len(v.Actions) > maxReportActions {
		v.Actions, v.MoreActions = v.Actions[:maxReportActions], len(pl.Actions)-maxReportActions
	}
	var b bytes.Buffer
	if err := reportTmpl.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return b.Bytes(), nil
}

type reportView struct {
	Timeline    *Timeline
	Plan        *Plan
	Map, Chart  template.HTML
	Actions     []*Action
	MoreActions int
}

var levelColour = [...]string{"#2e7d32", "#f9a825", "#c62828"}

// mapSVG draws the sites, incidents and the typhoon's track on an
// equirectangular map around the city.
func mapSVG(res *Result) template.HTML {
	tl := res.Timeline
	const w, h = 720.0, 480.0
	minLat, maxLat, minLon, maxLon := 90.0, -90.0, 360.0, -360.0
	for _, s := range tl.Sites {
		minLat, maxLat, minLon, maxLon = min(minLat, s.Lat), max(maxLat, s.Lat), min(minLon, s.Lon), max(maxLon, s.Lon)
	}
	if len(tl.Sites) == 0 {
		return ""
	}
	// widen to show the track where it passes nearest to the city
	pad := 0.15
	if len(res.Track) > 0 {
		clat, clon := (minLat+maxLat)/2, (minLon+maxLon)/2
		near := math.Inf(1)
		for _, p := range res.Track {
			near = min(near, twin.DistanceKm(clat, clon, p.Lat, p.Lon))
		}
		pad = min(4, near/111.2+0.3)
	}
	minLat, maxLat, minLon, maxLon = minLat-pad, maxLat+pad, minLon-pad, maxLon+pad
	cos := math.Cos((minLat + maxLat) / 2 * math.Pi / 180)
	// keep the aspect: x in degrees of longitude times cos(lat)
	spanX, spanY := (maxLon-minLon)*cos, maxLat-minLat
	scale := min(w/spanX, h/spanY)
	cx, cy := (minLon+maxLon)/2, (minLat+maxLat)/2
	x := func(lon float64) float64 { return w/2 + (lon-cx)*cos*scale }
	y := func(lat float64) float64 { return h/2 - (lat-cy)*scale }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="map" viewBox="0 0 %.0f %.0f" role="img" aria-label="map of the sites coloured by their worst level">`, w, h)
	b.WriteString(`<defs><clipPath id="mapclip"><rect width="720" height="480"/></clipPath></defs><rect width="720" height="480" fill="#eef3f7"/><g clip-path="url(#mapclip)">`)
	if len(res.Track) > 1 {
		b.WriteString(`<polyline class="track" fill="none" stroke="#5e35b1" stroke-width="2" stroke-dasharray="6 3" points="`)
		for i, p := range res.Track {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.1f,%.1f", x(p.Lon), y(p.Lat))
		}
		b.WriteString(`"/>`)
		for _, p := range res.Track {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="#5e35b1"/>`, x(p.Lon), y(p.Lat))
		}
	}
	for _, s := range tl.Sites {
		fmt.Fprintf(&b, `<circle class="site" cx="%.1f" cy="%.1f" r="4" fill="%s" stroke="#fff" stroke-width="0.8"><title>%s (%s, %s): worst %s</title></circle>`,
			x(s.Lon), y(s.Lat), levelColour[s.Worst], template.HTMLEscapeString(s.ID), template.HTMLEscapeString(s.Project),
			template.HTMLEscapeString(s.District), s.Worst)
	}
	for _, in := range res.Plan.Incidents {
		px, py := x(in.Lon), y(in.Lat)
		fmt.Fprintf(&b, `<path class="incident" d="M%.1f %.1fl8 8m0 -8l-8 8" stroke="#000" stroke-width="2.5"><title>%s: %s</title></path>`,
			px-4, py-4, template.HTMLEscapeString(in.ID), template.HTMLEscapeString(in.Description))
	}
	b.WriteString(`</g>`)
	// scale bar: 10 km
	km := 10.0
	bar := km / 111.2 * scale
	fmt.Fprintf(&b, `<g font-size="11"><line x1="12" y1="462" x2="%.1f" y2="462" stroke="#333" stroke-width="2"/><text x="12" y="455">%g km</text></g>`, 12+bar, km)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// chartSVG draws the highest ground and jib gust over the sites and the
// stop-work orders in force, step by step.
func chartSVG(tl *Timeline) template.HTML {
	const w, h, left, right, top, bottom = 720.0, 260.0, 44.0, 44.0, 12.0, 28.0
	n := len(tl.Steps)
	if n == 0 {
		return ""
	}
	ground, jib, orders := make([]float64, n), make([]float64, n), make([]float64, n)
	var maxWind, maxOrders float64 = 10, 1
	for k, st := range tl.Steps {
		for _, v := range st.GroundMS {
			ground[k] = max(ground[k], v)
		}
		for _, v := range st.JibMS {
			jib[k] = max(jib[k], v)
		}
		orders[k] = float64(st.StopOrders)
		maxWind, maxOrders = max(maxWind, ground[k], jib[k]), max(maxOrders, orders[k])
	}
	maxWind = math.Ceil(maxWind/10) * 10
	maxOrders = math.Ceil(maxOrders/5) * 5
	x := func(k int) float64 { return left + (w-left-right)*float64(k)/float64(max(1, n-1)) }
	yw := func(v float64) float64 { return h - bottom - (h-top-bottom)*v/maxWind }
	yo := func(v float64) float64 { return h - bottom - (h-top-bottom)*v/maxOrders }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="wind and stop-work orders over time">`, w, h)
	b.WriteString(`<g font-size="10" fill="#333">`)
	for v := 0.0; v <= maxWind; v += maxWind / 5 {
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.0f" y="%.1f" text-anchor="end">%.0f</text>`,
			left, w-right, yw(v), yw(v), left-4, yw(v)+3, v)
	}
	for v := 0.0; v <= maxOrders; v += maxOrders / 5 {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f">%.0f</text>`, w-right+4, yo(v)+3, v)
	}
	ticks := max(1, n/6)
	for k := 0; k < n; k += ticks {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`, x(k), h-10, tl.Steps[k].Time.UTC().Format("01-02 15:04"))
	}
	fmt.Fprintf(&b, `<text x="4" y="10">m/s</text><text x="%.0f" y="10" text-anchor="end">sites stopped</text></g>`, w-2)
	poly := func(vs []float64, y func(float64) float64, class, colour string, step bool) {
		fmt.Fprintf(&b, `<polyline class="%s" fill="none" stroke="%s" stroke-width="1.6" points="`, class, colour)
		for k, v := range vs {
			if k > 0 {
				b.WriteByte(' ')
				if step {
					fmt.Fprintf(&b, "%.1f,%.1f ", x(k), y(vs[k-1]))
				}
			}
			fmt.Fprintf(&b, "%.1f,%.1f", x(k), y(v))
		}
		b.WriteString(`"/>`)
	}
	poly(orders, yo, "orders", "#c62828", true)
	poly(ground, yw, "ground", "#1565c0", false)
	poly(jib, yw, "jib", "#6a1b9a", false)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
