package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/sitetwin/sitetwin/connectors"
	"github.com/sitetwin/sitetwin/streams"
)

// influxFlags are the InfluxDB flags of run.
type influxFlags struct {
	URL, Token, Org, Bucket string
}

func (f *influxFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.URL, "influx-url", "", "InfluxDB URL (v2 API; e.g. http://127.0.0.1:8086): write sensor readings, twin KPIs and predictions there")
	fs.StringVar(&f.Token, "influx-token", "", "InfluxDB API token (for InfluxDB 1.8: user:password, or empty)")
	fs.StringVar(&f.Org, "influx-org", "sitetwin", "InfluxDB organisation (ignored by InfluxDB 1.8)")
	fs.StringVar(&f.Bucket, "influx-bucket", "sitetwin", "InfluxDB bucket (InfluxDB 1.8: database/retention-policy)")
}

// startOutward starts what talks to the world outside: the outbox sender
// when a platform URL is given, the InfluxDB sink when --influx-url is.
func startOutward(ctx context.Context, g *errgroup.Group, cfg runConfig, brokers []string, eng *streams.Engine, reg prometheus.Registerer, log *slog.Logger) error {
	if cfg.FilingURL != "" || cfg.FundsURL != "" {
		sc := connectors.SenderConfig{
			Brokers: brokers, Prefix: streams.DefaultTopics().Prefix, MaxAttempts: cfg.SendTries, Backoff: cfg.SendBackoff,
			Registerer: reg, Logger: log, Group: cfg.Group + "-sender",
		}
		if cfg.FilingURL != "" {
			f, err := connectors.NewHTTPFiling(cfg.FilingURL, cfg.SendTimeout)
			if err != nil {
				return usageErr(err)
			}
			sc.Filing = f
		}
		if cfg.FundsURL != "" {
			f, err := connectors.NewHTTPFunds(cfg.FundsURL, cfg.SendTimeout)
			if err != nil {
				return usageErr(err)
			}
			sc.Funds = f
		}
		s, err := connectors.NewSender(sc)
		if err != nil {
			return err
		}
		log.Info("outbox sender started", "filing", cfg.FilingURL, "funds", cfg.FundsURL)
		g.Go(func() error {
			select {
			case <-eng.Ready():
			case <-ctx.Done():
				return nil
			}
			return s.Run(ctx)
		})
	}
	if cfg.Influx.URL != "" {
		sink, err := connectors.NewInfluxSink(eng.Store(), connectors.InfluxConfig{
			URL: cfg.Influx.URL, Token: cfg.Influx.Token, Org: cfg.Influx.Org, Bucket: cfg.Influx.Bucket,
			Registerer: reg, Logger: log,
		})
		if err != nil {
			return usageErr(err)
		}
		log.Info("writing history to InfluxDB", "url", cfg.Influx.URL, "org", cfg.Influx.Org, "bucket", cfg.Influx.Bucket)
		g.Go(func() error { return sink.Run(ctx) })
	}
	return nil
}

func usageErr(err error) error { return fmt.Errorf("%w: %v", errUsage, err) }
