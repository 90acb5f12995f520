package connectors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitetwin/sitetwin/twin"
)

// ViewSource is what the InfluxDB sink needs of the twins' committed
// state (the engine's store): to hear which twins changed, and their views.
// Watch's fn must not block; Twin returns a view the caller may keep.
type ViewSource interface {
	Watch(fn func(ids []string, alerts []twin.Alert)) (stop func())
	Twin(id string) (*twin.ProjectView, bool)
}

// InfluxConfig configures an InfluxSink. Zero values take the defaults
// named on each field.
type InfluxConfig struct {
	// URL of the InfluxDB server (v2 API; InfluxDB 1.8 serves it too).
	// Required.
	URL string
	// Token is the API token (InfluxDB 1.8: "user:password", or empty
	// without authentication).
	Token string
	// Org is the organisation (ignored by InfluxDB 1.8). Default "sitetwin".
	Org string
	// Bucket receives the points (InfluxDB 1.8: "database/retention
	// policy" or "database"). Default "sitetwin".
	Bucket string
	// BatchSize is the number of points written in one request. Default 1000.
	BatchSize uint
	// FlushInterval is the longest a point waits in a batch. Default 1s.
	FlushInterval time.Duration
	// Queue bounds the change notices waiting for the sink; when it is
	// full the notice is dropped (counted) and the twins it named are
	// written with their next change. Default 4096.
	Queue int
	// Registerer receives the sink's metrics. Default a private registry.
	Registerer prometheus.Registerer
	// Logger receives the sink's logs. Default slog.Default().
	Logger *slog.Logger
}

// InfluxSink writes the history of the twins to InfluxDB with the official
// v2 client, batched and asynchronous, retried by the client: every sensor
// reading the committed views show (measurement "sensor"), each rule's
// windowed value ("rule"), the project KPIs ("twin": SPI(t), health,
// open hazards, alarms, arrears, funds) and the models' predictions
// ("prediction"). It never blocks the engine: it hears of changes through
// ViewSource.Watch into a bounded queue, and one goroutine (Run) owns all
// it remembers. Failed writes are counted, not fatal.
type InfluxSink struct {
	cfg    InfluxConfig
	src    ViewSource
	log    *slog.Logger
	client influxdb2.Client
	writer api.WriteAPI
	queue  chan []string
	m      influxMetrics
	// owned by Run's goroutine: what has been written, to write each
	// reading, KPI state and prediction once
	lastReading map[string]string // project/site/series -> event id
	lastTwin    map[string]int64  // project -> events applied
	lastPred    map[string]int64  // project/model/subject -> time (Unix ns)
}

type influxMetrics struct {
	points  *prometheus.CounterVec // by measurement
	errors  prometheus.Counter
	dropped prometheus.Counter
}

// NewInfluxSink checks the configuration; Run starts writing.
func NewInfluxSink(src ViewSource, cfg InfluxConfig) (*InfluxSink, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("influx: %q is not an http(s) URL", cfg.URL)
	}
	if src == nil {
		return nil, errors.New("influx: no view source")
	}
	if cfg.Org == "" {
		cfg.Org = "sitetwin"
	}
	if cfg.Bucket == "" {
		cfg.Bucket = "sitetwin"
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 1000
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 4096
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := influxMetrics{
		points: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sitetwin_influx_points_total",
			Help: "Points handed to the InfluxDB writer, by measurement."}, []string{"measurement"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "sitetwin_influx_write_errors_total",
			Help: "Batches InfluxDB did not accept after the client's retries (their points are lost to the history, not to the twins)."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "sitetwin_influx_dropped_total",
			Help: "Change notices dropped because the InfluxDB sink's queue was full (the twins are written with their next change)."}),
	}
	for _, meas := range []string{"sensor", "rule", "twin", "prediction"} {
		m.points.WithLabelValues(meas)
	}
	for _, c := range []prometheus.Collector{m.points, m.errors, m.dropped} {
		if err := cfg.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("influx metrics: %w", err)
		}
	}
	opts := influxdb2.DefaultOptions().SetBatchSize(cfg.BatchSize).SetFlushInterval(uint(cfg.FlushInterval.Milliseconds())).
		SetMaxRetries(5).SetMaxRetryTime(60_000).SetRetryBufferLimit(50_000)
	client := influxdb2.NewClientWithOptions(u.String(), cfg.Token, opts)
	return &InfluxSink{
		cfg: cfg, src: src, log: cfg.Logger, client: client, writer: client.WriteAPI(cfg.Org, cfg.Bucket),
		queue: make(chan []string, cfg.Queue), m: m,
		lastReading: map[string]string{}, lastTwin: map[string]int64{}, lastPred: map[string]int64{},
	}, nil
}

// Run writes the twins that change until ctx ends, then flushes what is
// batched and closes the client; it returns nil.
func (s *InfluxSink) Run(ctx context.Context) error {
	stop := s.src.Watch(func(ids []string, _ []twin.Alert) {
		if len(ids) == 0 {
			return
		}
		select {
		case s.queue <- ids:
		default:
			s.m.dropped.Inc()
		}
	})
	defer stop()
	errs := s.writer.Errors()
	done := make(chan struct{})
	go func() { // counts the writer's failures; ends when the client closes
		defer close(done)
		for err := range errs {
			s.m.errors.Inc()
			s.log.Warn("influx: write failed", "err", err)
		}
	}()
	defer func() {
		s.writer.Flush()
		s.client.Close()
		<-done
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ids := <-s.queue:
			for _, id := range ids {
				if v, ok := s.src.Twin(id); ok {
					s.write(v)
				}
			}
		}
	}
}

func (s *InfluxSink) point(meas string, tags map[string]string, fields map[string]any, at time.Time) {
	for k, v := range tags {
		if v == "" {
			delete(tags, k)
		}
	}
	s.writer.WritePoint(write.NewPoint(meas, tags, fields, at))
	s.m.points.WithLabelValues(meas).Inc()
}

// write writes what is new in a view.
func (s *InfluxSink) write(v *twin.ProjectView) {
	d := v.Info.District
	for i := range v.Sites {
		site := &v.Sites[i]
		for _, sv := range site.Sensors {
			key := v.ID + "/" + site.ID + "/" + sv.Kind + "@" + sv.Equipment
			if sv.Time.IsZero() || s.lastReading[key] == sv.Event {
				continue
			}
			s.lastReading[key] = sv.Event
			s.point("sensor", map[string]string{"project": v.ID, "district": d, "site": site.ID, "kind": sv.Kind, "equipment": sv.Equipment, "unit": sv.Unit},
				map[string]any{"value": sv.Value}, sv.Time)
		}
		for _, w := range site.Windows {
			key := v.ID + "/" + site.ID + "/rule/" + w.Rule + "@" + w.Equipment
			stamp := w.At.Format(time.RFC3339Nano)
			if w.At.IsZero() || s.lastReading[key] == stamp {
				continue
			}
			s.lastReading[key] = stamp
			fields := map[string]any{"value": w.Value}
			for _, al := range site.Alarms {
				if al.Rule == w.Rule && al.Equipment == w.Equipment {
					fields["threshold"], fields["level"] = al.Threshold, int(al.Level)
				}
			}
			s.point("rule", map[string]string{"project": v.ID, "district": d, "site": site.ID, "rule": w.Rule, "equipment": w.Equipment, "unit": w.Unit},
				fields, w.At)
		}
	}
	if s.lastTwin[v.ID] != v.Applied && !v.Clock.IsZero() {
		s.lastTwin[v.ID] = v.Applied
		hazards := 0
		for _, h := range v.Hazards {
			if h.Status != twin.StatusClosed {
				hazards++
			}
		}
		level := map[twin.Health]int{twin.Green: 0, twin.Amber: 1, twin.Red: 2}[v.Health]
		s.point("twin", map[string]string{"project": v.ID, "district": d, "kind": v.Info.Kind, "contractor": v.Info.Contractor},
			map[string]any{
				"spi_t": v.Schedule.SPIt, "spi": v.Schedule.SPI, "ev": v.Schedule.EV, "pv": v.Schedule.PV,
				"health": level, "open_hazards": hazards, "open_alarms": len(v.Alarms), "arrears_days": v.Funds.ArrearsDays,
				"arrears_cny": v.Funds.ArrearsCNY, "disbursed_cny": v.Funds.DisbursedCNY, "earned_cny": v.Funds.EarnedCNY,
				"wage_balance_cny": v.Funds.WageBalanceCNY, "credit": v.Credit,
			}, v.Clock)
	}
	for _, p := range v.Predictions {
		key := v.ID + "/" + p.Model + "/" + p.Subject
		if p.At.IsZero() || s.lastPred[key] == p.At.UnixNano() || len(p.Values) == 0 {
			continue
		}
		s.lastPred[key] = p.At.UnixNano()
		fields := make(map[string]any, len(p.Values))
		for k, x := range p.Values {
			fields[strings.ReplaceAll(k, " ", "_")] = x
		}
		s.point("prediction", map[string]string{"project": v.ID, "district": d, "model": p.Model, "subject": p.Subject}, fields, p.At)
	}
}
