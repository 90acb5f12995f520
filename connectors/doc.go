// Package connectors talks to services outside sitetwin: today a remote
// prediction model (any HTTP service that takes sitetwin's JSON feature
// vector and answers with a prediction); the filing and fund services, the
// outbox sender and the InfluxDB sink come with the connectors issue.
//
// It imports twin and predict, and its clients' libraries; never streams
// or dashboard.
package connectors
