package streams

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's Prometheus collectors. All names start with
// sitetwin_.
type metrics struct {
	applied *prometheus.CounterVec // by topic
	// appliedBy holds applied's counter of each input topic, made before
	// the engine runs and only read after: a record's count is then one
	// atomic add, not a label lookup under the vector's lock.
	appliedBy    map[string]prometheus.Counter
	deadLettered *prometheus.CounterVec // by reason class
	duplicates   prometheus.Counter
	forwarded    prometheus.Counter
	late         prometheus.Counter
	alerts       *prometheus.CounterVec // by change
	produceErrs  prometheus.Counter
	lag          prometheus.Gauge
	twins        prometheus.Gauge
	openAlarms   prometheus.Gauge
	partitions   prometheus.Gauge
	brokerUp     prometheus.Gauge
	batchSeconds prometheus.Histogram
	checkpoints  prometheus.Counter
	// checkpointSeconds is the time the poll loop waits at a checkpoint,
	// by phase (encode, commit, publish).
	checkpointSeconds *prometheus.HistogramVec
	restored          prometheus.Counter
	predictions       *prometheus.CounterVec   // by model and outcome
	predSeconds       *prometheus.HistogramVec // by model
	predDeferred      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitetwin_events_applied_total", Help: "Events applied to twins (duplicates included), by input topic.",
		}, []string{"topic"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitetwin_events_deadlettered_total", Help: "Records sent to the dead-letter topic, by reason class (malformed, invalid, rejected, wrong_topic).",
		}, []string{"reason"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sitetwin_events_duplicate_total", Help: "Events whose id was already applied; they changed nothing.",
		}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sitetwin_events_forwarded_total", Help: "Records re-produced to the partition that owns their project (wrong key or partitioner), and copies of city-wide events.",
		}),
		late: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sitetwin_readings_late_total", Help: "Sensor readings older than the allowed lateness: kept in history, no alarm evaluated.",
		}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sitetwin_alerts_total", Help: "Alerts produced, by change (raised, escalated, eased, cleared).",
		}, []string{"change"}),
		produceErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sitetwin_produce_errors_total", Help: "Output records the broker did not accept; offsets are not committed past them.",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sitetwin_consumer_lag", Help: "Records in the owned input partitions not yet applied (end offset minus applied offset).",
		}),
		twins: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sitetwin_twins", Help: "Project twins held by this process.",
		}),
		openAlarms: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sitetwin_open_alarms", Help: "Alarms at warn or stop over all twins held by this process.",
		}),
		partitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sitetwin_partitions_owned", Help: "Partition numbers this process owns.",
		}),
		brokerUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sitetwin_broker_up", Help: "1 when the last broker health check succeeded, 0 when the broker was unreachable.",
		}),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "sitetwin_batch_seconds", Help: "Time to apply one polled batch.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		checkpoints: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sitetwin_checkpoints_total", Help: "Checkpoints: twin snapshots written to the changelog, then offsets committed.",
		}),
		restored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sitetwin_twins_restored_total", Help: "Twins restored from the changelog on partition assignment.",
		}),
	}
	m.checkpointSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sitetwin_checkpoint_seconds",
		Help:    "Time the poll loop waits at a checkpoint, by phase: encode (the changed twins' snapshots and deltas, every worker at once) commit (the outputs flushed and the transaction ended) and publish (after a commit: the changed twins' views and the alerts handed to the store).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"phase"})
	m.predictions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sitetwin_predictions_total", Help: "Model runs, by model and outcome (ok, not_applicable, error).",
	}, []string{"model", "outcome"})
	m.predSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "sitetwin_prediction_seconds", Help: "Time of one model run.", Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
	}, []string{"model"})
	m.predDeferred = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sitetwin_prediction_deferred_total", Help: "Expensive model runs left due because the pool's queue was full (queued after a later batch).",
	})
	// every label value from the start, so that dashboards see zeros
	for _, reason := range []string{"malformed", "invalid", "rejected", "wrong_topic"} {
		m.deadLettered.WithLabelValues(reason)
	}
	for _, change := range []string{"raised", "escalated", "eased", "cleared"} {
		m.alerts.WithLabelValues(change)
	}
	for _, phase := range []string{"encode", "commit", "publish"} {
		m.checkpointSeconds.WithLabelValues(phase)
	}
	for _, c := range []prometheus.Collector{m.applied, m.deadLettered, m.duplicates, m.forwarded, m.late, m.alerts,
		m.produceErrs, m.lag, m.twins, m.openAlarms, m.partitions, m.brokerUp, m.batchSeconds, m.checkpoints, m.checkpointSeconds, m.restored,
		m.predictions, m.predSeconds, m.predDeferred} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// appliedOn returns the counter of events applied from a topic.
func (m *metrics) appliedOn(topic string) prometheus.Counter {
	if c, ok := m.appliedBy[topic]; ok {
		return c
	}
	return m.applied.WithLabelValues(topic)
}
