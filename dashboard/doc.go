// Package dashboard serves sitetwin over HTTP: the REST API under /api/
// (twins with their health and reasons, alerts, sites near a point, audit
// chains, sensor series, the OpenAPI document), the live feed at /ws
// (subscriptions to the city summary, the city, a district, a twin and
// alerts: a snapshot, then changes, coalesced per client), /healthz,
// /metrics, and the page embedded in the binary (web/: its own JS and CSS,
// no build step, no CDN).
//
// Every request but /healthz and the page carries a bearer token (Tokens)
// naming a role: regulator, contractor (its own projects) or public
// (public fields only); Open serves everyone as a regulator, for a demo.
//
// It reads twin state through the small Source interface (and the optional
// Feed and SeriesSource), which the engine's store implements; it never
// imports streams or connectors (cmd plugs them together). Every error is
// JSON with a message and the status.
//
// Main types: Server (New, Run), Config, Source, Feed, Tokens.
package dashboard
