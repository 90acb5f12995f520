// Package connectors talks to services outside sitetwin: a remote
// prediction model (RemoteModel: any HTTP service that takes sitetwin's
// JSON feature vector), the filing and fund-supervision platforms behind
// the outbox (Sender, through the small FilingPlatform and FundPlatform
// interfaces: HTTPFiling and HTTPFunds speak the reference API of package
// counterparts, and an adapter to a real platform is one more file), and
// InfluxDB for history (InfluxSink, with the official v2 client).
//
// The Sender drains the sitetwin.outbox topic (read-committed), retries
// with exponential backoff under each request's idempotency key, and
// produces the platforms' answers back into the input topics as events;
// requests of drills are never sent.
//
// It imports twin and predict, and its clients' libraries (franz-go,
// influxdb-client-go, Prometheus); never streams, dashboard or
// counterparts: where it needs the engine's state it declares the small
// interface it needs (ViewSource) and cmd plugs the store in.
package connectors
