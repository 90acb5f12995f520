package dashboard

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the dashboard's Prometheus collectors (sitetwin_ws_* and
// sitetwin_http_*), registered when Config.Registerer is set.
type metrics struct {
	clients   prometheus.Gauge
	frames    prometheus.Counter
	bytes     prometheus.Counter
	coalesced *prometheus.CounterVec // by what: row, twin, summary
	dropped   *prometheus.CounterVec // by what: alert, client
	rejected  *prometheus.CounterVec // by reason
	changes   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		clients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sitetwin_ws_clients", Help: "Websocket clients connected.",
		}),
		frames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sitetwin_ws_messages_sent_total", Help: "Websocket messages sent to clients.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sitetwin_ws_sent_bytes_total", Help: "Bytes of websocket messages sent to clients.",
		}),
		coalesced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitetwin_ws_coalesced_total", Help: "Updates replaced by a newer one of the same twin before they were sent: in the feed's inbox (change), or waiting for a client (row, twin, summary) because of its rate limit or slowness.",
		}, []string{"what"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitetwin_ws_dropped_total", Help: "What a slow client lost: alerts beyond its queue (alert), clients disconnected because a write timed out (client), changes beyond the feed's inbox (change).",
		}, []string{"what"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitetwin_http_rejected_total", Help: "Requests refused, by reason (unauthorized, forbidden, origin, bad_message, rate_limit, too_big).",
		}, []string{"reason"}),
		changes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sitetwin_ws_twin_changes_total", Help: "Twin changes the live feed took from the engine's store.",
		}),
	}
	for _, w := range []string{"change", "row", "twin", "summary"} {
		m.coalesced.WithLabelValues(w)
	}
	for _, w := range []string{"alert", "client", "change"} {
		m.dropped.WithLabelValues(w)
	}
	for _, r := range []string{"unauthorized", "forbidden", "origin", "bad_message", "rate_limit", "too_big"} {
		m.rejected.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.clients, m.frames, m.bytes, m.coalesced, m.dropped, m.rejected, m.changes} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
