// Package dashboard serves sitetwin over HTTP: the REST API under /api/
// (twins with their health and reasons, alerts, sites near a point, audit
// chains), /healthz, /metrics, and the page embedded in the binary.
//
// It reads twin state through the small Source interface, which the
// engine's store implements; it never imports streams or connectors (cmd
// plugs them together). Every error is JSON with a message and the status.
//
// Main types: Server (New), Source, Config.
package dashboard
