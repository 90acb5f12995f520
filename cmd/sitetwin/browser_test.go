package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sitetwin/sitetwin/twin"
)

// chromium returns Debian's chromium, or skips the test (fails it under
// CI=true, where `make test` has installed it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (CI=true requires it; `make deps` installs the Debian package chromium)")
	}
	t.Skip("chromium is not installed; `make deps` installs it (apt-get install chromium)")
	return ""
}

// browser starts headless chromium and returns a chromedp context.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.Headless,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1400, 1000), chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil { // start the browser now
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// restartable is a `sitetwin run` that a test can stop and start again on
// the same addresses and data.
type restartable struct {
	t      *testing.T
	cfg    runConfig
	a      *app
	cancel context.CancelFunc
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (r *restartable) start() {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := startApp(ctx, r.cfg, testLog(r.t))
	if err != nil {
		cancel()
		r.t.Fatal(err)
	}
	r.a, r.cancel = a, cancel
	select {
	case <-a.Engine.Ready():
	case <-time.After(30 * time.Second):
		r.t.Fatal("engine not ready within 30s")
	}
}

func (r *restartable) stop() {
	r.t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	if err := r.a.Wait(); err != nil {
		r.t.Errorf("sitetwin run: %v", err)
	}
	r.cancel = nil
}

// jsEventually evaluates a JS expression every 25 ms until it is true, or
// fails after the timeout with what the expression `why` says.
func jsEventually(t *testing.T, ctx context.Context, timeout time.Duration, expr, why string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](why))
			t.Fatalf("not within %v: %s (%s)", timeout, expr, msg)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestBrowserDashboard drives the page in headless chromium against the
// real `sitetwin run` with its embedded broker: the map shows every site,
// an event produced through franz-go turns a site red and puts its alert
// in the feed within 2 seconds, the counters follow, clicking the site
// opens the project, the page passes an accessibility check, and after a
// server restart it says so and recovers by itself.
func TestBrowserDashboard(t *testing.T) {
	ctx := browser(t)
	const projects = 12
	cfg, err := parseRunFlags([]string{"--http", freeAddr(t), "--kafka-listen", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--stats-every", "0", "--checkpoint-every", "100ms", "--projects", fmt.Sprint(projects), "--rate", "0", "--seed", "7",
		"--models", "none"}, io.Discard, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	srv := &restartable{t: t, cfg: cfg}
	srv.start()
	t.Cleanup(srv.stop)
	base := "http://" + srv.a.HTTPAddr

	// the city as the REST API sees it once registered
	var sites []struct {
		Project, Site string
		Health        twin.Health
	}
	eventually(t, func() string {
		status, body := getBody(t, base+"/api/sites/near?lat=22.55&lon=114.05&radius_km=20000")
		var near struct {
			Total int
			Sites []struct {
				Project, Site string
				Health        twin.Health
			}
		}
		if status != 200 || json.Unmarshal(body, &near) != nil {
			return fmt.Sprintf("near: %d", status)
		}
		seen := map[string]bool{}
		for _, s := range near.Sites {
			seen[s.Project] = true
		}
		if len(seen) != projects {
			return fmt.Sprintf("%d of %d projects have sites", len(seen), projects)
		}
		sites = near.Sites
		return ""
	})
	// two green sites of different projects: one to turn red now, one after the restart
	var greens []struct{ Project, Site string }
	for _, s := range sites {
		if s.Health == twin.Green && (len(greens) == 0 || greens[0].Project != s.Project) {
			greens = append(greens, struct{ Project, Site string }{s.Project, s.Site})
		}
	}
	if len(greens) < 2 {
		t.Fatal("fewer than two green sites to turn red")
	}
	target := greens[0]
	n := len(sites)

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	jsEventually(t, ctx, 20*time.Second, fmt.Sprintf(`document.querySelectorAll('#map circle.site').length === %d && document.body.dataset.conn === 'live'`, n),
		`document.querySelectorAll('#map circle.site').length + ' sites drawn, connection ' + document.body.dataset.conn`)
	jsEventually(t, ctx, 10*time.Second, fmt.Sprintf(`document.getElementById('c-projects').textContent === '%d'`, projects),
		`'projects counter ' + document.getElementById('c-projects').textContent`)
	redBefore, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#c-red")))
	if err != nil {
		t.Fatal(err)
	}

	// an event through franz-go turns the site red: map, feed and counters follow within 2 s
	sel := fmt.Sprintf(`#map circle.site[data-site="%s"]`, target.Site)
	ev := `{"specversion":"1.0","id":"browser-1","type":"sensor.reading","source":"gw-browser","time":"` + time.Now().UTC().Format(time.RFC3339) +
		`","project":"` + target.Project + `","site":"` + target.Site + `","data":{"kind":"noise","value":96,"unit":"dB(A)"}}`
	produceStream(t, srv.a.KafkaAddr, []*twin.Event{mustEvent(t, ev)})
	took := jsEventually(t, ctx, 2*time.Second,
		fmt.Sprintf(`document.querySelector('%s').dataset.health === 'red' && !!document.querySelector('#alerts li[data-project="%s"][data-level="stop"]')`, sel, target.Project),
		fmt.Sprintf(`'site ' + document.querySelector('%s').dataset.health + ', alerts ' + document.querySelectorAll('#alerts li').length`, sel))
	t.Logf("site red and alert shown %v after the event was acknowledged", took)
	jsEventually(t, ctx, 3*time.Second, fmt.Sprintf(`Number(document.getElementById('c-red').textContent) > %q`, redBefore),
		`'red counter ' + document.getElementById('c-red').textContent`)
	feedText, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#alerts li:first-child")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(feedText, "noise") || !strings.Contains(feedText, "responsible:") {
		t.Errorf("first alert %q: want its reason and the responsible unit", feedText)
	}

	// a typhoon advisory draws its track and wind radii over the city
	now := time.Now().UTC()
	var track []string
	for i, pt := range [][2]float64{{20.2, 116.8}, {21.0, 115.6}, {21.8, 114.6}, {22.6, 113.7}} {
		track = append(track, fmt.Sprintf(`{"time":%q,"lat":%g,"lon":%g,"pressure_hpa":955,"max_wind_ms":42,"wind_avg_minutes":10,"rmw_km":30,"r30_km":180,"r50_km":80}`,
			now.Add(time.Duration(6*i)*time.Hour).Format(time.RFC3339), pt[0], pt[1]))
	}
	adv := `{"specversion":"1.0","id":"browser-adv","type":"typhoon.advisory","source":"hko","time":"` + now.Format(time.RFC3339) +
		`","project":"*","data":{"name":"TESTSTORM","issued":"` + now.Format(time.RFC3339) + `","track":[` + strings.Join(track, ",") + `]}}`
	produceStream(t, srv.a.KafkaAddr, []*twin.Event{mustEvent(t, adv)})
	jsEventually(t, ctx, 5*time.Second, `document.querySelectorAll('#map .track').length === 1 && document.querySelectorAll('#map .r30').length === 4 && /TESTSTORM/.test(document.getElementById('advisory').textContent)`,
		`document.querySelectorAll('#map .track').length + ' tracks; ' + document.getElementById('advisory').textContent`)

	// clicking the site opens the project
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		t.Fatal(err)
	}
	jsEventually(t, ctx, 5*time.Second,
		fmt.Sprintf(`!document.getElementById('project').hidden && document.getElementById('p-title').textContent.startsWith('%s') && /verified/.test(document.getElementById('audit').textContent) && document.querySelectorAll('#sensors .chart').length > 0`, target.Project),
		`document.getElementById('p-title').textContent + ' / ' + document.getElementById('audit').textContent + ' / charts ' + document.querySelectorAll('#sensors .chart').length`)
	meta, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#p-meta")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(meta, "health red") {
		t.Errorf("project panel meta %q", meta)
	}
	dir := os.Getenv("SITETWIN_SCREENSHOT_DIR") // to keep it; by default a temporary directory
	if dir == "" {
		dir = t.TempDir()
	}
	shot := filepath.Join(dir, "dashboard.png")
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", shot, len(png))

	// accessibility: labels, names, focus, contrast
	problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](a11yCheck))
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Errorf("accessibility: %s", strings.Join(problems, "; "))
	}
	// the keyboard reaches the sites and opens a project with Enter
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS("#p-close")),
		chromedp.Focus(chromedp.CSS(sel)),
		chromedp.KeyEvent("\r"),
	); err != nil {
		t.Fatal(err)
	}
	jsEventually(t, ctx, 3*time.Second, `!document.getElementById('project').hidden`, `'panel hidden after Enter'`)
	focused, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id`))
	if focused != "project" {
		t.Errorf("focus after opening a project is on %q, want the panel", focused)
	}

	// the server restarts: the page says so, reconnects and is live again
	srv.stop()
	jsEventually(t, ctx, 10*time.Second, `document.body.dataset.conn === 'down' && /reconnecting/i.test(document.getElementById('conn').textContent)`,
		`document.getElementById('conn').textContent`)
	srv.cfg.Projects = 0 // the city is in the broker's data already
	srv.start()
	jsEventually(t, ctx, 20*time.Second, fmt.Sprintf(`document.body.dataset.conn === 'live' && document.querySelectorAll('#map circle.site').length === %d`, n),
		`document.getElementById('conn').textContent + ', ' + document.querySelectorAll('#map circle.site').length + ' sites'`)
	second := greens[1]
	ev2 := strings.NewReplacer("browser-1", "browser-2", target.Site, second.Site, target.Project, second.Project).Replace(ev)
	produceStream(t, srv.a.KafkaAddr, []*twin.Event{mustEvent(t, ev2)})
	jsEventually(t, ctx, 5*time.Second,
		fmt.Sprintf(`document.querySelector('#map circle.site[data-site="%s"]').dataset.health === 'red' && !!document.querySelector('#alerts li[data-project="%s"]')`, second.Site, second.Project),
		`document.querySelector('#alerts li') ? document.querySelector('#alerts li').textContent : 'no alerts'`)

	// a project driven by produced events to the city review of its
	// registration filing and a milestone held for an open hazard: the
	// panel shows the filing's stages and the held disbursement
	produceStream(t, srv.a.KafkaAddr, outwardProject(t, time.Now().UTC()))
	outSel := `#map circle.site[data-project="BR-900"]`
	jsEventually(t, ctx, 10*time.Second, `!!document.querySelector('`+outSel+`')`, `document.querySelectorAll('#map circle.site').length + ' sites'`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(outSel))); err != nil {
		t.Fatal(err)
	}
	jsEventually(t, ctx, 5*time.Second, `(() => {
		const f = document.querySelector('#filings .filing[data-kind="registration"]');
		const d = document.querySelector('#decisions li[data-milestone="M1"]');
		return !!f && f.dataset.stage === 'city' && !!f.querySelector('.stages li.current[data-stage="city"] time') &&
			!!f.querySelector('.stages li.todo[data-stage="expert"]') && /receipt RCPT-B900/.test(f.textContent) &&
			!!d && d.dataset.decision === 'held' && /major hazard HZ-B1 open/.test(d.textContent) &&
			document.getElementById('arrears').dataset.warning === 'yes' && /below a month's payroll/.test(document.getElementById('arrears').textContent) &&
			!!document.querySelector('#wages table.wages td.bad');
	})()`, `document.getElementById('p-title').textContent + ' / filings: ' + document.getElementById('filings').textContent +
		' / decisions: ' + document.getElementById('decisions').textContent + ' / wages: ' + document.getElementById('wages').textContent`)
	png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dashboard-filings.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	if problems, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](a11yCheck)); err != nil || len(problems) > 0 {
		t.Errorf("accessibility with filings and decisions shown: %v %s", err, strings.Join(problems, "; "))
	}

	// a drill run from a shell (`drill run --live`, not through the
	// API): the page shows the banner and rings the drill's site
	var out strings.Builder
	if code := cli(context.Background(), []string{"drill", "run", "../../scenarios/examples/crane_collapse.json", "--live", "--brokers", srv.a.KafkaAddr, "--quiet"},
		&out, &out, func(string) string { return "" }); code != 0 {
		t.Fatalf("drill run --live: exit %d\n%s", code, out.String())
	}
	jsEventually(t, ctx, 10*time.Second, `!document.getElementById('drill-banner').hidden && /started elsewhere/.test(document.getElementById('drill-text').textContent) &&
		!!document.querySelector('#map .drill-site.stop[data-drill-site="P-001-S2"]')`,
		`document.getElementById('drill-banner').hidden + ' ' + document.getElementById('drill-text').textContent`)
}

// outwardProject returns the events of a project BR-900 registered an hour
// before now with one site, a baseline of two milestones, a major hazard
// open on M1, a month's attendance with no wages in the account (an
// arrears warning), M1 completed and accepted (its disbursement held for
// the hazard and the warning), and the filing platform's answers taking its registration
// filing to the city review.
func outwardProject(t *testing.T, now time.Time) []*twin.Event {
	t.Helper()
	at := func(min int) string { return now.Add(time.Duration(min-60) * time.Minute).Format(time.RFC3339) }
	day := func(d int) string { return now.AddDate(0, 0, d).Format("2006-01-02") }
	ev := func(id, typ string, min int, site, data string) *twin.Event {
		s := ""
		if site != "" {
			s = `,"site":"` + site + `"`
		}
		return mustEvent(t, fmt.Sprintf(`{"specversion":"1.0","id":"br900-%s","type":%q,"source":"browser-test","time":%q,"project":"BR-900"%s,"data":%s}`, id, typ, at(min), s, data))
	}
	const key = `"request":"BR-900/filing/registration/1","filing_kind":"registration","filing":"FIL-B900"`
	return []*twin.Event{
		ev("reg", "project.registered", 0, "", `{"name":"Browser Test Tower","district":"Futian","kind":"housing","owner":"O-B","contractor":"C-B","supervisor":"S-B","budget_cny":2e8,`+
			`"planned_start":"`+day(-30)+`","planned_finish":"`+day(400)+`","permit_number":"440304202600009001","supervision_filing_number":"JLBA-B900","safety_filing_number":"AQBA-B900"}`),
		ev("site", "site.added", 1, "BR-900-S1", `{"name":"main","lat":22.541,"lon":114.052,"terrain":"C"}`),
		ev("plan", "plan.baselined", 2, "", `{"milestones":[{"id":"M1","name":"Piling","optimistic_days":20,"likely_days":30,"pessimistic_days":40,"budget_share":0.3},`+
			`{"id":"M2","name":"Structure","optimistic_days":200,"likely_days":240,"pessimistic_days":300,"depends_on":["M1"],"budget_share":0.7}]}`),
		ev("hz", "hazard.found", 3, "BR-900-S1", `{"hazard":"HZ-B1","severity":"major","category":"scaffolding","deadline":"`+day(10)+`","milestone":"M1","description":"wall ties missing"}`),
		ev("att", "attendance.reported", 4, "", `{"period":"`+now.Format("2006-01")+`","worker_days":600,"workers":30}`),
		ev("prog", "progress.reported", 4, "", `{"milestone":"M1","percent_complete":100}`),
		ev("done", "milestone.completed", 5, "", `{"milestone":"M1"}`),
		ev("acc", "acceptance.passed", 6, "", `{"milestone":"M1"}`),
		ev("fa", "filing.accepted", 7, "", `{`+key+`,"receipt":"RCPT-B900","stage":"district_preliminary"}`),
		ev("fs", "filing.status_changed", 8, "", `{`+key+`,"stage":"city_review","status":"in_review"}`),
	}
}

// a11yCheck returns what a basic accessibility check finds: form controls
// without a label, buttons without a name, focusable map sites, contrast of
// text below 4.5:1, a missing lang.
const a11yCheck = `(() => {
  const out = [];
  if (!document.documentElement.lang) out.push('html has no lang');
  for (const el of document.querySelectorAll('input, select, textarea')) {
    const labelled = (el.id && document.querySelector('label[for="' + el.id + '"]')) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
    if (!labelled) out.push('unlabelled ' + el.tagName + '#' + el.id);
  }
  for (const el of document.querySelectorAll('button, [role=button]')) {
    const name = (el.textContent || '').trim() || el.getAttribute('aria-label');
    if (!name) out.push('button without a name: ' + el.outerHTML.slice(0, 80));
    if (el.tabIndex < 0) out.push('button not focusable: ' + el.outerHTML.slice(0, 80));
  }
  const sites = document.querySelectorAll('#map circle.site');
  if (!sites.length) out.push('no sites to check');
  for (const el of sites) if (el.getAttribute('tabindex') !== '0') { out.push('site not focusable'); break; }
  const lum = (c) => { const m = c.match(/\d+(\.\d+)?/g).map(Number); const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(m[0]) + 0.7152 * f(m[1]) + 0.0722 * f(m[2]); };
  const bg = (el) => { for (; el; el = el.parentElement) { const c = getComputedStyle(el).backgroundColor; if (c && !/rgba\(0, 0, 0, 0\)|transparent/.test(c)) return c; } return 'rgb(255, 255, 255)'; };
  for (const el of document.querySelectorAll('h1, h2, h3, p, li, label, .counter .label, .counter .value, button, select, .conn, footer')) {
    if (el.offsetParent === null || !el.textContent.trim()) continue;
    const a = lum(getComputedStyle(el).color), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) out.push('contrast ' + ratio.toFixed(2) + ' of ' + el.tagName + (el.id ? '#' + el.id : '') + ' "' + el.textContent.trim().slice(0, 30) + '"');
  }
  return out;
})()`
