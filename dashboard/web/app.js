// sitetwin dashboard: the project's own small script (no framework, no
// build step). It keeps one websocket to /ws (see dashboard/README-ws.md),
// draws the city map and the project panel as SVG, and reconnects by itself.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);
const LEVEL = ["ok", "warn", "stop"];
const MAX_ALERTS = 300;

const state = {
  token: null,
  role: null,
  rows: new Map(),        // project id -> row (city topic)
  snapshotting: false,    // a chunked city snapshot is arriving
  alerts: [],             // newest first
  summary: null,
  project: null,          // id of the open project
  twin: null,             // its latest view
  ws: null,
  retry: 0,
  drawPending: false,
  chartsAt: 0,
  auditLen: -1,
  drills: new Map(),      // drill id -> {status, sites, track, levels, step} (topic drill, regulators)
};

// ---- token and REST ----

// the fragment may carry a token (#token=..., printed in the log by a run
// that generated one; kept in this tab's session, then removed from the
// address) and a project to open (#project=P-001, kept for links)
function loadToken() {
  const m = location.hash.match(/token=([A-Za-z0-9._~-]+)/);
  const p = location.hash.match(/project=([A-Za-z0-9._:@\/-]+)/);
  if (m) {
    sessionStorage.setItem("sitetwin-token", m[1]);
    history.replaceState(null, "", location.pathname + location.search + (p ? "#project=" + p[1] : ""));
  }
  state.token = sessionStorage.getItem("sitetwin-token");
  if (p) state.project = decodeURIComponent(p[1]);
}

async function api(path) {
  const headers = state.token ? { Authorization: "Bearer " + state.token } : {};
  const resp = await fetch(path, { headers });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const err = new Error(body.error || resp.statusText);
    err.status = resp.status;
    throw err;
  }
  return body;
}

function showLogin(msg) {
  $("login").hidden = false;
  $("login-msg").textContent = msg || "";
  $("token").focus();
}

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem("sitetwin-token", state.token);
  $("login").hidden = true;
  start();
});

// ---- websocket ----

function setConn(cls, text) {
  const el = $("conn");
  el.className = "conn " + cls;
  el.textContent = text;
  document.body.dataset.conn = cls;
}

function send(msg) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(msg));
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const protocols = ["sitetwin.v1"];
  if (state.token) protocols.push("bearer." + state.token);
  let ws;
  try {
    ws = new WebSocket(proto + "//" + location.host + "/ws", protocols);
  } catch (e) {
    scheduleReconnect();
    return;
  }
  state.ws = ws;
  setConn("connecting", state.retry ? "Reconnecting…" : "Connecting…");
  ws.onopen = () => {
    state.retry = 0;
    send({ op: "subscribe", topic: "summary" });
    send({ op: "subscribe", topic: "city" });
    send({ op: "subscribe", topic: "alerts" });
    if (state.project) send({ op: "subscribe", topic: "twin", project: state.project });
  };
  ws.onmessage = (ev) => {
    let m;
    try { m = JSON.parse(ev.data); } catch (e) { return; }
    handle(m);
  };
  ws.onclose = () => {
    if (state.ws !== ws) return;
    state.ws = null;
    scheduleReconnect();
  };
}

function scheduleReconnect() {
  state.retry++;
  const delay = Math.min(3000, 250 * 2 ** Math.min(state.retry, 4));
  setConn("down", "Disconnected — reconnecting in " + Math.ceil(delay / 1000) + " s");
  setTimeout(async () => {
    // a restarted server may want a token now: ask the REST API first
    try {
      await api("/api/whoami");
    } catch (e) {
      if (e.status === 401) { setConn("down", "Signed out"); showLogin(e.message); return; }
    }
    connect();
  }, delay);
}

function handle(m) {
  switch (m.type) {
    case "hello":
      state.role = m.role;
      document.body.dataset.role = m.role;
      $("who").textContent = "signed in as " + m.role + (m.unit ? " (" + m.unit + ")" : "");
      setConn("live", "Live");
      for (const id of ["funds-box", "haz-box", "audit-box", "disb-box"]) $(id).hidden = m.role === "public";
      if (m.role === "public") $("map-title").firstChild.textContent = "City map: dust and noise ";
      if (m.role === "regulator") send({ op: "subscribe", topic: "drill" });
      break;
    case "snapshot":
      if (m.topic === "city") {
        if (!state.snapshotting) state.rows.clear();
        state.snapshotting = !!m.more;
        for (const r of m.projects || []) state.rows.set(r.id, r);
        scheduleDraw();
      } else if (m.topic === "alerts") {
        state.alerts = m.alerts || [];
        renderAlerts();
      } else if (m.topic === "summary") {
        state.summary = m.summary;
        renderSummary();
      } else if (m.topic === "twin" && m.project === state.project) {
        state.twin = m.twin;
        renderProject();
      } else if (m.topic === "drill") {
        drillMessage(m);
      }
      break;
    case "drill":
      drillMessage(m);
      break;
    case "projects":
      for (const r of m.projects || []) state.rows.set(r.id, r);
      for (const id of m.removed || []) state.rows.delete(id);
      scheduleDraw();
      break;
    case "alerts":
      state.alerts = (m.alerts || []).concat(state.alerts).slice(0, MAX_ALERTS);
      renderAlerts();
      break;
    case "summary":
      state.summary = m.summary;
      renderSummary();
      break;
    case "twin":
      if (m.project === state.project) {
        state.twin = m.twin;
        renderProject();
      }
      break;
    case "error":
      console.warn("sitetwin:", m.error);
      break;
  }
}

// ---- live drills ----

// drillMessage keeps a drill's status and latest levels (one digit per
// site of its snapshot) and redraws the banner and the layer.
function drillMessage(m) {
  if (!m.drill) return;
  let d = state.drills.get(m.drill.id);
  if (!d || m.sites) d = { sites: m.sites || (d && d.sites) || [], track: m.track || (d && d.track) || [] };
  d.status = m.drill;
  if (m.levels) d.levels = m.levels;
  if (m.step) d.step = m.step;
  state.drills.set(m.drill.id, d);
  renderDrillBanner();
  scheduleDraw();
}

// shownDrill is the running drill, else the latest one.
function shownDrill() {
  let last = null;
  for (const d of state.drills.values()) {
    if (d.status.state === "running") return d;
    if (!last || d.status.started > last.status.started) last = d;
  }
  return last;
}

function renderDrillBanner() {
  const d = shownDrill();
  $("drill-banner").hidden = !d;
  if (!d) return;
  const s = d.status;
  // a drill of source engine was started by another process: the engine
  // knows its sites, levels and alerts, not its kind or steps
  const engine = s.source === "engine";
  let text = s.name + " (" + (s.kind ? s.kind + ", " : "") + "drill " + s.id + (engine ? ", started elsewhere" : "") + "): " + s.state;
  if (s.steps) text += " — step " + s.steps_done + " of " + s.steps + (s.sim_time ? ", simulated " + s.sim_time.replace("T", " ").slice(0, 16) + "Z" : "");
  if (engine) text += " — " + s.sites + " sites touched" + (d.step ? ", " + d.step.stop_orders + " at stop" : "") + ", " + s.alerts + " alerts" + (s.sim_time ? ", simulated " + s.sim_time.replace("T", " ").slice(0, 16) + "Z" : "");
  else if (d.step) text += " — " + d.step.stop_orders + " sites under stop-work orders, peak jib gust " + d.step.max_jib_ms.toFixed(1) + " m/s";
  if (s.kpis) text += " — every site secured " + s.kpis.secured_after_hours.toFixed(1) + " h after the start, " + s.kpis.unserved + " incidents unserved";
  if (s.error) text += " — " + s.error;
  $("drill-text").textContent = text + ". Real twins, alerts and filings are not affected.";
}

// drawDrill draws the shown drill's layer: its track and a ring around
// every site at warn or stop in the drill.
function drawDrill(map, px) {
  const d = shownDrill();
  if (!d || !$("drill-layer").checked) return;
  const g = svg("g", { class: "drill-layer", "aria-label": "Drill " + d.status.id + " (not real)", role: "img" }, map);
  if (d.track && d.track.length) {
    svg("polyline", { points: d.track.map((p) => px(p.lat, p.lon).join(",")).join(" "), class: "drill-track" }, g);
  }
  const lv = d.levels || "";
  d.sites.forEach((s, i) => {
    const l = lv.charCodeAt(i) - 48;
    if (!(l > 0)) return;
    const [x, y] = px(s.lat, s.lon);
    svg("circle", { cx: x, cy: y, r: 10, class: "drill-site " + LEVEL[l], "data-drill-site": s.id }, g);
  });
}

// ---- counters ----

function renderSummary() {
  const s = state.summary;
  if (!s) return;
  $("c-projects").textContent = s.projects;
  $("c-green").textContent = s.health.green;
  $("c-amber").textContent = s.health.amber;
  $("c-red").textContent = s.health.red;
  $("c-warn").textContent = s.open_alarms.warn;
  $("c-stop").textContent = s.open_alarms.stop;
  $("c-rate").textContent = s.events_per_second.toFixed(1);
  $("c-lag").textContent = s.consumer_lag;
  const adv = $("advisory");
  if (s.advisory) {
    adv.hidden = false;
    adv.textContent = "Typhoon advisory in effect: " + s.advisory.name + " (" + s.advisory.track.length + " track points)";
  } else {
    adv.hidden = true;
  }
  scheduleDraw();
}

// ---- map ----

function scheduleDraw() {
  if (state.drawPending) return;
  state.drawPending = true;
  requestAnimationFrame(() => { state.drawPending = false; drawMap(); updateDistricts(); });
}

function siteColour(row, site) {
  if (site.health) return site.health;
  return { ok: "green", warn: "amber", stop: "red" }[site.disturbance] || "green";
}

function svg(tag, attrs, parent) {
  const el = document.createElementNS(SVGNS, tag);
  for (const k in attrs) el.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(el);
  return el;
}

function drawMap() {
  const map = $("map");
  const W = 800, H = 560, pad = 24;
  const sites = [];
  for (const row of state.rows.values()) {
    for (const s of row.sites || []) sites.push([row, s]);
  }
  $("map-count").textContent = "(" + sites.length + " sites)";
  map.replaceChildren();
  if (!sites.length) {
    svg("text", { x: W / 2 - 60, y: H / 2, class: "label" }, map).textContent = "No sites yet";
    return;
  }
  let minLat = Infinity, maxLat = -Infinity, minLon = Infinity, maxLon = -Infinity;
  for (const [, s] of sites) {
    minLat = Math.min(minLat, s.lat); maxLat = Math.max(maxLat, s.lat);
    minLon = Math.min(minLon, s.lon); maxLon = Math.max(maxLon, s.lon);
  }
  // equirectangular, x scaled by cos(latitude) so distances look right
  const k = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
  const spanX = Math.max((maxLon - minLon) * k, 0.01), spanY = Math.max(maxLat - minLat, 0.01);
  const scale = Math.min((W - 2 * pad) / spanX, (H - 2 * pad) / spanY); // px per degree of latitude
  const x0 = W / 2 - ((minLon + maxLon) / 2) * k * scale, y0 = H / 2 + ((minLat + maxLat) / 2) * scale;
  const px = (lat, lon) => [x0 + lon * k * scale, y0 - lat * scale];
  const kmPx = scale / 111.2;

  const adv = state.summary && state.summary.advisory;
  if (adv && adv.track && adv.track.length) {
    const g = svg("g", { "aria-label": "Typhoon " + adv.name + " forecast track", role: "img" }, map);
    for (const p of adv.track) {
      const [x, y] = px(p.lat, p.lon);
      if (p.r30_km) svg("circle", { cx: x, cy: y, r: p.r30_km * kmPx, class: "r30" }, g);
      if (p.r50_km) svg("circle", { cx: x, cy: y, r: p.r50_km * kmPx, class: "r50" }, g);
    }
    svg("polyline", { points: adv.track.map((p) => px(p.lat, p.lon).join(",")).join(" "), class: "track" }, g);
    for (const p of adv.track) {
      const [x, y] = px(p.lat, p.lon);
      svg("circle", { cx: x, cy: y, r: 3, class: "trackpt" }, g);
    }
  }

  // district names at the middle of their sites (no outlines in the data)
  const districts = new Map();
  for (const [row, s] of sites) {
    if (!row.district) continue;
    const d = districts.get(row.district) || { lat: 0, lon: 0, n: 0 };
    d.lat += s.lat; d.lon += s.lon; d.n++;
    districts.set(row.district, d);
  }
  for (const [name, d] of districts) {
    const [x, y] = px(d.lat / d.n, d.lon / d.n);
    svg("text", { x: x - name.length * 3.5, y: y + 24, class: "district" }, map).textContent = name;
  }

  drawDrill(map, px);

  const tip = $("tip");
  for (const [row, s] of sites) {
    const [x, y] = px(s.lat, s.lon);
    const colour = siteColour(row, s);
    const risk = s.risk && s.risk !== "ok" ? s.risk : (row.risk && row.risk !== "ok" ? row.risk : "");
    const r = 6;
    if (risk) svg("circle", { cx: x, cy: y, r: r + 4, class: "risk " + risk }, map);
    const c = svg("circle", {
      cx: x, cy: y, r, class: "site " + colour, tabindex: "0", role: "button",
      "data-project": row.id, "data-site": s.id, "data-health": colour,
      "aria-label": row.id + " " + row.name + ", site " + (s.name || s.id) + ": " + colour + (risk ? ", forecast risk " + risk : "") + (s.cranes ? ", " + s.cranes + " tower crane(s)" : ""),
    }, map);
    if (s.cranes) svg("path", { d: `M${x + 7},${y - 11} l4,7 h-8 z`, class: "crane" }, map);
    const show = () => {
      const lines = [row.id + " — " + row.name, "site " + (s.name || s.id) + " · " + row.district + " · " + row.status,
        "state: " + colour + (s.reason ? " — " + s.reason : "")];
      if (risk) lines.push("forecast risk: " + risk + (row.risk_reason ? " — " + row.risk_reason : ""));
      if (s.cranes) lines.push(s.cranes + " tower crane(s)");
      tip.replaceChildren(...lines.map((l) => { const d = document.createElement("div"); d.textContent = l; return d; }));
      const box = map.getBoundingClientRect();
      tip.style.left = Math.min(box.width - 200, (x / W) * box.width + 12) + "px";
      tip.style.top = ((y / H) * box.height + 12) + "px";
      tip.hidden = false;
    };
    c.addEventListener("mouseenter", show);
    c.addEventListener("focus", show);
    c.addEventListener("mouseleave", () => { tip.hidden = true; });
    c.addEventListener("blur", () => { tip.hidden = true; });
    c.addEventListener("click", () => openProject(row.id));
    c.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); openProject(row.id); }
    });
  }
}

function updateDistricts() {
  const sel = $("f-district");
  const have = new Set([...sel.options].map((o) => o.value));
  const ds = [...new Set([...state.rows.values()].map((r) => r.district).filter(Boolean))].sort();
  for (const d of ds) {
    if (!have.has(d)) { const o = document.createElement("option"); o.value = d; o.textContent = d; sel.appendChild(o); }
  }
}

// ---- alerts ----

function levelNum(l) { return typeof l === "number" ? l : LEVEL.indexOf(l); }

function renderAlerts() {
  const lvl = $("f-level").value, dist = $("f-district").value, kind = $("f-kind").value;
  const list = $("alerts");
  const items = state.alerts.filter((a) =>
    (lvl === "" || String(levelNum(a.level)) === lvl) &&
    (dist === "" || (a.district || "").toLowerCase() === dist.toLowerCase()) &&
    (kind === "" || a.kind === kind)).slice(0, 100);
  list.replaceChildren(...items.map((a) => {
    const li = document.createElement("li");
    const n = levelNum(a.level);
    li.dataset.level = LEVEL[n];
    li.dataset.project = a.project;
    const lv = document.createElement("span");
    lv.className = "lvl lvl-" + n;
    lv.textContent = a.change === "cleared" ? "cleared" : LEVEL[n];
    const b = document.createElement("button");
    b.type = "button";
    b.className = "link";
    b.textContent = a.project;
    b.addEventListener("click", () => openProject(a.project));
    const reason = document.createElement("span");
    reason.textContent = " " + a.reason + " ";
    const meta = document.createElement("div");
    meta.className = "when";
    meta.textContent = [a.district, a.site, a.kind, new Date(a.time).toLocaleString()].filter(Boolean).join(" · ");
    li.append(lv, " ", b, reason);
    if (a.responsible) {
      const r = document.createElement("span");
      r.className = "resp";
      r.textContent = "responsible: " + a.responsible;
      li.append(r);
    }
    li.append(meta);
    return li;
  }));
}

for (const id of ["f-level", "f-district", "f-kind"]) $(id).addEventListener("change", renderAlerts);

// ---- project panel ----

function openProject(id) {
  if (state.project && state.project !== id) send({ op: "unsubscribe", topic: "twin", project: state.project });
  state.project = id;
  state.twin = null;
  state.chartsAt = 0;
  state.auditLen = -1;
  $("p-title").textContent = "Project " + id;
  $("sensors").replaceChildren();
  $("project").hidden = false;
  history.replaceState(null, "", location.pathname + location.search + "#project=" + encodeURIComponent(id));
  send({ op: "subscribe", topic: "twin", project: id });
  $("project").focus();
  $("project").scrollIntoView({ block: "nearest" });
}

$("p-close").addEventListener("click", () => {
  if (state.project) send({ op: "unsubscribe", topic: "twin", project: state.project });
  state.project = null;
  $("project").hidden = true;
  history.replaceState(null, "", location.pathname + location.search);
});

const fmtDate = (s) => (s ? new Date(s).toISOString().slice(0, 10) : "–");
const cny = (x) => "¥" + (x / 1e6).toFixed(2) + " M";
const zero = (s) => !s || s.startsWith("0001-");

function renderProject() {
  const v = state.twin;
  if (!v) return;
  const pub = state.role === "public";
  const info = pub ? v : v.info;
  $("p-title").textContent = v.id + " — " + (info.name || "");
  if (pub) {
    $("p-meta").textContent = [v.district, v.kind, v.status, "progress " + (v.progress_detail.percent_complete || 0).toFixed(0) + "%",
      "disturbance " + v.disturbance, v.filing.permit_number ? "permit " + v.filing.permit_number : "filing: " + (v.filing.registered ? "registered" : "pending")].join(" · ");
    $("gantt").replaceChildren(textP("Milestones: " + v.progress_detail.completed + " of " + v.progress_detail.milestones + " completed, " + v.progress_detail.accepted + " accepted."));
    renderFilings(v.filings || []);
  } else {
    $("p-meta").textContent = [info.district, info.kind, "contractor " + info.contractor, "health " + v.health,
      v.reasons.length ? v.reasons.slice(0, 2).join("; ") : "no standing alarms"].join(" · ");
    renderGantt(v);
    renderFunds(v);
    renderWages(v);
    renderFilings(v.filings || []);
    renderDecisions(v);
    renderHazards(v);
    if (v.audit_records !== state.auditLen) { state.auditLen = v.audit_records; renderAudit(v.id); }
  }
  if (Date.now() - state.chartsAt > 5000) { state.chartsAt = Date.now(); renderCharts(v, pub); }
}

function textP(t, cls) { const p = document.createElement("p"); p.textContent = t; if (cls) p.className = cls; return p; }

function renderGantt(v) {
  const ms = v.milestones.filter((m) => !zero(m.planned_start));
  const box = $("gantt");
  if (!ms.length) { box.replaceChildren(textP("No baseline yet.")); return; }
  const delay = (v.predictions || []).find((p) => p.model === "delay" && !p.subject);
  const times = [];
  for (const m of ms) times.push(Date.parse(m.planned_start), Date.parse(m.planned_finish));
  if (!zero(v.clock)) times.push(Date.parse(v.clock));
  if (delay && delay.dates) for (const k of ["p50", "p80"]) if (delay.dates[k]) times.push(Date.parse(delay.dates[k]));
  if (!zero(v.info.deadline)) times.push(Date.parse(v.info.deadline));
  const t0 = Math.min(...times), t1 = Math.max(...times);
  const W = 640, left = 150, rowH = 18, H = ms.length * rowH + 30;
  const x = (t) => left + ((t - t0) / Math.max(t1 - t0, 1)) * (W - left - 10);
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "gantt", role: "img",
    "aria-label": "Gantt chart of " + ms.length + " milestones" + (delay ? "; forecast finish P50 " + fmtDate(delay.dates.p50) + ", P80 " + fmtDate(delay.dates.p80) : "") });
  s.setAttribute("width", "100%");
  if (delay && delay.dates && delay.dates.p50 && delay.dates.p80) {
    const a = x(Date.parse(delay.dates.p50)), b = x(Date.parse(delay.dates.p80));
    svg("rect", { x: a, y: 0, width: Math.max(b - a, 4), height: H - 20, class: "band" }, s);
    svg("text", { x: W - 2, y: H - 6, "text-anchor": "end" }, s).textContent = "forecast finish P50 " + fmtDate(delay.dates.p50) + " – P80 " + fmtDate(delay.dates.p80);
  }
  ms.forEach((m, i) => {
    const y = i * rowH + 4;
    svg("text", { x: 0, y: y + 11 }, s).textContent = (m.name || m.id).slice(0, 22);
    const a = x(Date.parse(m.planned_start)), b = x(Date.parse(m.planned_finish));
    svg("rect", { x: a, y, width: Math.max(b - a, 2), height: 12, class: "base" }, s);
    const done = !zero(m.completed) || !zero(m.accepted);
    const pct = done ? 1 : (m.percent_complete || 0) / 100;
    if (pct > 0) {
      const end = done ? x(Date.parse(zero(m.completed) ? m.accepted : m.completed)) : a + (b - a) * pct;
      svg("rect", { x: a, y: y + 3, width: Math.max(end - a, 2), height: 6, class: done && end > b + 1 ? "late" : "act" }, s);
    }
    const t = svg("title", {}, s);
    t.textContent = `${m.id}: planned ${fmtDate(m.planned_start)} → ${fmtDate(m.planned_finish)}, ${done ? "done" : (m.percent_complete || 0) + "%"}`;
  });
  if (!zero(v.clock)) {
    const c = x(Date.parse(v.clock));
    svg("line", { x1: c, x2: c, y1: 0, y2: H - 20, class: "today" }, s);
  }
  svg("line", { x1: left, x2: W - 10, y1: H - 20, y2: H - 20, class: "axis" }, s);
  svg("text", { x: left, y: H - 6 }, s).textContent = fmtDate(new Date(t0).toISOString());
  if (!delay) svg("text", { x: W - 2, y: H - 6, "text-anchor": "end" }, s).textContent = fmtDate(new Date(t1).toISOString());
  box.replaceChildren(s);
}

function meterRow(label, value, max, cls, text) {
  const row = document.createElement("div");
  row.className = "funds-row";
  const l = document.createElement("span");
  l.textContent = label;
  const m = document.createElement("div");
  m.className = "meter " + (cls || "");
  m.setAttribute("role", "img");
  m.setAttribute("aria-label", label + " " + text);
  const bar = document.createElement("span");
  bar.style.width = Math.max(0, Math.min(100, (value / Math.max(max, 1)) * 100)) + "%";
  m.appendChild(bar);
  const t = document.createElement("span");
  t.className = "hint";
  t.textContent = text;
  row.append(l, m, document.createElement("span"), t);
  return row;
}

function renderFunds(v) {
  const f = v.funds, max = Math.max(f.earned_cny, f.disbursed_cny, 1);
  const arrears = f.arrears_days > 0;
  $("funds").replaceChildren(
    meterRow("Earned", f.earned_cny, max, "", cny(f.earned_cny)),
    meterRow("Disbursed", f.disbursed_cny, max, "disb", cny(f.disbursed_cny)),
    textP("Wage account balance " + cny(f.wage_balance_cny) + " (deposited " + cny(f.wage_deposited_cny) + ", paid " + cny(f.wages_paid_cny) + ")"),
    textP(arrears ? "Wages " + f.arrears_days + " days past the pay cycle" : "Wages paid within the pay cycle", arrears ? "bad" : "ok"));
}

// ---- filings, disbursement decisions, wages ----

// the approval stages in order, as the public view names them, and the
// platform's review stages mapped onto them
const STAGES = ["requested", "district", "city", "expert", "approved"];
const STAGE_NAME = { requested: "requested", district: "district preliminary review", city: "city review",
  expert: "expert review", approved: "approved", returned: "returned", rejected: "rejected" };
const PLATFORM_STAGE = { district_preliminary: "district", city_review: "city", expert_review: "expert", done: "approved" };
const fmtTime = (s) => (zero(s) ? "" : new Date(s).toISOString().slice(0, 16).replace("T", " ") + " UTC");

// filingStage maps a twin's filing status at a platform stage to a public
// stage and, for a return, the stage that returned it
function filingStage(status, stage) {
  switch (status) {
    case "in_review": return [PLATFORM_STAGE[stage] || "requested", ""];
    case "approved": return ["approved", ""];
    case "returned": return ["returned", PLATFORM_STAGE[stage] || ""];
    case "rejected": return ["rejected", ""];
  }
  return ["requested", ""]; // requested, or failed: not at the platform
}

// publicFiling gives a full twin's filing the public form (stage, at,
// steps) and keeps the details in full; a public filing is already so
function publicFiling(f) {
  if (f.steps) return f;
  const [stage, at] = filingStage(f.status, f.stage);
  const steps = [{ stage: "requested", time: f.requested }];
  for (const h of f.history || []) {
    const [st, a] = filingStage(h.status, h.stage);
    if (st !== "requested") steps.push({ stage: st, at: a, time: h.time });
  }
  return { kind: f.kind, stage, at, steps, full: f };
}

function stageText(st, at) { return STAGE_NAME[st] + (at ? " at " + STAGE_NAME[at] : ""); }

function renderFilings(filings) {
  const box = $("filings");
  if (!filings.length) { box.replaceChildren(textP("No filing requested yet.")); return; }
  box.replaceChildren(...filings.map((raw) => {
    const f = publicFiling(raw);
    const div = document.createElement("div");
    div.className = "filing";
    div.dataset.kind = f.kind;
    div.dataset.stage = f.stage;
    const h = document.createElement("h4");
    h.textContent = f.kind[0].toUpperCase() + f.kind.slice(1) + " filing: " + stageText(f.stage, f.at);
    const ol = document.createElement("ol");
    ol.className = "stages";
    ol.setAttribute("aria-label", f.kind + " filing stages");
    const last = f.steps.length - 1;
    f.steps.forEach((s, i) => {
      const li = document.createElement("li");
      li.className = s.stage === "returned" || s.stage === "rejected" ? "stop" : i === last ? "current" : "done";
      li.dataset.stage = s.stage;
      li.append(stageText(s.stage, s.at));
      const t = document.createElement("time");
      t.dateTime = s.time;
      t.textContent = fmtTime(s.time);
      li.append(t);
      ol.append(li);
    });
    // the stages still ahead of a filing under review
    if (!["approved", "returned", "rejected"].includes(f.stage)) {
      for (const st of STAGES.slice(STAGES.indexOf(f.stage) + 1)) {
        const li = document.createElement("li");
        li.className = "todo";
        li.dataset.stage = st;
        li.textContent = STAGE_NAME[st];
        ol.append(li);
      }
    }
    div.append(h, ol);
    const d = f.full;
    if (d) {
      if (d.reasons && d.reasons.length) div.append(textP((d.status === "failed" ? "Undelivered: " : "Reasons: ") + d.reasons.join("; "), "bad"));
      if (d.existing) div.append(textP("Duplicates filing " + d.existing, "bad"));
      const ids = [d.filing && "filing " + d.filing, d.receipt && "receipt " + d.receipt, "request " + d.request].filter(Boolean);
      div.append(textP(ids.join(" · "), "hint"));
    }
    return div;
  }));
}

const DECISION_TEXT = {
  held: "held",
  requested: "released, request sent to the fund platform",
  paid: "paid",
  rejected: "refused by the fund platform",
  failed: "undelivered to the fund platform",
};

function renderDecisions(v) {
  const ul = $("decisions");
  const ms = v.milestones.filter((m) => m.decision && m.decision.id);
  if (!ms.length) { ul.replaceChildren(textLi("No milestone completed and accepted yet.")); return; }
  ul.replaceChildren(...ms.map((m) => {
    const d = m.decision;
    const li = document.createElement("li");
    li.dataset.milestone = m.id;
    li.dataset.decision = d.status;
    const st = document.createElement("strong");
    st.className = { paid: "ok", requested: "", held: "held" }[d.status] ?? "bad";
    st.textContent = DECISION_TEXT[d.status] || d.status;
    li.append((m.name || m.id) + " (" + m.id + "): ", st, " " + cny(d.amount_cny));
    if (d.receipt) li.append(", receipt " + d.receipt);
    if (d.answer) li.append(": " + d.answer);
    li.append(textP("decision " + d.id + ", " + fmtTime(d.time), "hint"));
    if (d.status === "held" && d.reasons && d.reasons.length) {
      const rs = document.createElement("ul");
      rs.className = "reasons";
      rs.setAttribute("aria-label", "why " + m.id + " is held");
      rs.append(...d.reasons.map((r) => textLi(r)));
      li.append(rs);
    }
    return li;
  }));
}

function textLi(t) { const li = document.createElement("li"); li.textContent = t; return li; }

function renderWages(v) {
  const f = v.funds;
  const out = [];
  const warn = textP(f.arrears_warning ? "Arrears warning, disbursements held: " + f.arrears_warning : "No arrears warning", f.arrears_warning ? "bad" : "ok");
  warn.id = "arrears";
  warn.dataset.warning = f.arrears_warning ? "yes" : "no";
  out.push(warn);
  if (f.arrears_cny) out.push(textP("Payroll unpaid for months past their pay cycle: " + cny(f.arrears_cny), "bad"));
  const ps = (f.wage_periods || []).slice(-6);
  if (!ps.length) {
    out.push(textP("No attendance reported yet.", "hint"));
  } else {
    const table = document.createElement("table");
    table.className = "wages";
    const cap = document.createElement("caption");
    cap.textContent = "Payroll by month: worker-days × day rate against wages paid";
    table.append(cap);
    const row = (cells, head) => {
      const tr = document.createElement("tr");
      for (const c of cells) { const td = document.createElement(head ? "th" : "td"); if (head) td.scope = "col"; td.textContent = c; tr.append(td); }
      return tr;
    };
    table.append(row(["Month", "Worker-days", "Expected", "Paid", "Short"], true));
    for (const w of ps) {
      const tr = row([w.period, String(w.worker_days), cny(w.expected_cny), cny(w.paid_cny), cny(Math.max(0, w.expected_cny - w.paid_cny))]);
      if (w.paid_cny < w.expected_cny) tr.lastChild.className = "bad";
      table.append(tr);
    }
    out.push(table);
  }
  $("wages").replaceChildren(...out);
}

function renderHazards(v) {
  const open = v.hazards.filter((h) => h.status !== "closed");
  const ul = $("hazards");
  if (!open.length) { ul.replaceChildren(Object.assign(document.createElement("li"), { textContent: "none open" })); return; }
  ul.replaceChildren(...open.map((h) => {
    const li = document.createElement("li");
    li.textContent = `${h.id} ${h.severity} ${h.category}${h.site ? " at " + h.site : ""} — ${h.status}, deadline ${fmtDate(h.deadline)} `;
    if (h.overdue) {
      const o = document.createElement("span");
      o.className = "overdue";
      o.textContent = "OVERDUE";
      li.appendChild(o);
    }
    return li;
  }));
}

async function renderAudit(id) {
  try {
    const a = await api("/api/twins/" + encodeURIComponent(id) + "/audit");
    $("audit").replaceChildren(a.verified
      ? textP("✔ verified: " + a.records.length + " records, chain intact", "ok")
      : textP("✘ broken: " + a.break, "bad"));
  } catch (e) {
    $("audit").textContent = "audit unavailable: " + e.message;
  }
}

async function renderCharts(v, pub) {
  const box = $("sensors");
  const jobs = [];
  for (const site of v.sites) {
    const sensors = pub ? (site.readings || []) : (site.sensors || []);
    for (const sv of sensors) {
      const key = sv.equipment ? sv.kind + "@" + sv.equipment : sv.kind;
      jobs.push(api(`/api/twins/${encodeURIComponent(v.id)}/sites/${encodeURIComponent(site.id)}/series?key=${encodeURIComponent(key)}`)
        .then((r) => chart(site, r)).catch(() => null));
    }
  }
  const charts = (await Promise.all(jobs)).filter(Boolean);
  if (state.twin && state.twin.id === v.id) box.replaceChildren(...(charts.length ? charts : [textP("No sensor readings.")]));
}

function chart(site, r) {
  const div = document.createElement("figure");
  div.className = "chart";
  div.style.margin = "0";
  const h = document.createElement("figcaption");
  const cap = document.createElement("h4");
  const last = r.points.length ? r.points[r.points.length - 1] : null;
  cap.textContent = `${site.name || site.id} · ${r.key}` + (last ? ` · ${last.mean.toFixed(1)} ${r.unit}` : "");
  h.appendChild(cap);
  div.appendChild(h);
  const W = 240, H = 70;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", preserveAspectRatio: "none" });
  const vals = r.points.flatMap((p) => [p.mean, p.max]);
  // a rate's or a sum's limit is not in the unit of the readings drawn
  const limits = r.limits.filter((l) => !/^(rate|sum)/.test(l.aggregate || ""));
  for (const l of limits) { if (l.warn != null) vals.push(l.warn); if (l.stop != null) vals.push(l.stop); }
  const lo = Math.min(0, ...vals), hi = Math.max(1, ...vals) * 1.05;
  const t1 = last ? Date.parse(last.start) : Date.now(), t0 = t1 - 3600e3;
  const x = (t) => ((t - t0) / 3600e3) * (W - 4) + 2;
  const y = (v) => H - 4 - ((v - lo) / (hi - lo)) * (H - 8);
  const labelled = [];
  for (const l of limits) {
    for (const [k, val] of [["warn", l.warn], ["stop", l.stop]]) {
      if (val == null) continue;
      svg("line", { x1: 0, x2: W, y1: y(val), y2: y(val), class: k }, s);
      if (labelled.some((v) => Math.abs(y(v) - y(val)) < 10)) continue; // no overprinting
      labelled.push(val);
      svg("text", { x: 2, y: y(val) - 2 }, s).textContent = `${k} ${val}${l.period ? " (" + l.period.split(" ")[0] + ")" : ""}`;
    }
  }
  if (r.points.length) {
    svg("polyline", { points: r.points.map((p) => x(Date.parse(p.start)) + "," + y(p.max)).join(" "), class: "max" }, s);
    svg("polyline", { points: r.points.map((p) => x(Date.parse(p.start)) + "," + y(p.mean)).join(" "), class: "line" }, s);
    if (r.points.length < 5) for (const p of r.points) svg("circle", { cx: x(Date.parse(p.start)), cy: y(p.mean), r: 2, class: "pt" }, s);
  }
  s.setAttribute("aria-label", `${r.key} at ${site.id}: ${r.points.length} minutes` + (last ? `, latest ${last.mean.toFixed(1)} ${r.unit}` : "") +
    (r.limits.length ? `; limits ${r.limits.map((l) => l.label + " " + (l.warn ?? "") + "/" + (l.stop ?? "")).join(", ")}` : ""));
  div.appendChild(s);
  return div;
}

// ---- start ----

async function start() {
  try {
    await api("/api/whoami");
  } catch (e) {
    if (e.status === 401) { setConn("down", "Signed out"); showLogin(e.message); return; }
  }
  connect();
}

$("drill-layer").addEventListener("change", scheduleDraw);
loadToken();
if (state.project) openProject(state.project); // subscribed once connected
start();
// the panel's charts and audit refresh while it is open
setInterval(() => { if (state.twin) renderProject(); }, 10000);
