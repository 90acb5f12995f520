package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sitetwin/sitetwin/counterparts"
)

// serveCmd runs a reference counterpart service: `sitetwin serve filing`
// or `sitetwin serve funds`.
func serveCmd(ctx context.Context, args []string, _, stderr io.Writer, getenv env) error {
	fs := flagSet("serve", "filing|funds [flags]", stderr)
	cfg := counterparts.DefaultConfig()
	var listen, logLevel, logFormat string
	var seed int64
	fs.StringVar(&listen, "listen", "127.0.0.1:8090", "address of the service's HTTP JSON API (port 0: any free port)")
	fs.StringVar(&cfg.LedgerFile, "ledger", "", "keep the ledger in this JSON file (empty: in memory)")
	fs.Float64Var(&cfg.ErrorRate, "error-rate", 0, "fraction of requests that fail (500/503, or carried out with the reply lost or garbled)")
	fs.DurationVar(&cfg.Latency, "latency", 0, "delay every answer by up to this (uniform)")
	fs.Float64Var(&cfg.SlowRate, "slow-rate", 0, "fraction of answers delayed by --slow-latency instead")
	fs.DurationVar(&cfg.SlowLatency, "slow-latency", 5*time.Second, "delay of a slow answer")
	fs.DurationVar(&cfg.StageTime, "stage-time", 2*time.Second, "filing: how long each review stage takes")
	fs.Float64Var(&cfg.ReturnRate, "return-rate", 0.1, "filing: fraction of filings returned with reasons at a review stage")
	fs.Float64Var(&cfg.RefuseRate, "refuse-rate", 0, "funds: fraction of disbursements refused (insufficient escrow balance)")
	fs.Int64Var(&seed, "seed", 1, "seed of the random faults, delays and review outcomes")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&logFormat, "log-format", "text", "text or json")
	pos, err := parseFlags(fs, args, getenv, 1)
	if err != nil {
		return err
	}
	if len(pos) != 1 || (pos[0] != "filing" && pos[0] != "funds") {
		return fmt.Errorf("%w: say which service: sitetwin serve filing, or sitetwin serve funds", errUsage)
	}
	log, err := newLogger(stderr, logLevel, logFormat)
	if err != nil {
		return err
	}
	cfg.Seed, cfg.Logger = uint64(seed), log
	svc, err := newService(pos[0], cfg)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", listen, err)
	}
	return serveService(ctx, pos[0], svc, ln, log)
}

// service is a counterpart service.
type service interface {
	http.Handler
	Run(context.Context) error
}

func newService(name string, cfg counterparts.Config) (service, error) {
	if name == "filing" {
		return counterparts.NewFiling(cfg)
	}
	return counterparts.NewFunds(cfg)
}

// serveService serves a counterpart on a listener until ctx ends.
func serveService(ctx context.Context, name string, svc service, ln net.Listener, log *slog.Logger) error {
	srv := &http.Server{Handler: svc, ReadHeaderTimeout: 10 * time.Second}
	log.Info(name+" service listening", "url", "http://"+ln.Addr().String()+"/")
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return svc.Run(gctx) })
	serveHTTP(g, gctx, srv, ln)
	return g.Wait()
}

// serveHTTP serves srv on ln in the group until ctx ends, then shuts it
// down, giving open requests 3 seconds.
func serveHTTP(g *errgroup.Group, ctx context.Context, srv *http.Server, ln net.Listener) {
	g.Go(func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
}
