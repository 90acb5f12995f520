package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/sitetwin/sitetwin/statefun"
)

// statefunCmd serves the twins as Flink Stateful Functions remote functions
// (sitetwin/project, sitetwin/city) for a StateFun 3.3 cluster; see
// deploy/statefun/README.md.
func statefunCmd(ctx context.Context, args []string, _, stderr io.Writer, getenv env) error {
	fs := flagSet("statefun", "[flags]", stderr)
	listen := fs.String("listen", ":8000", "address of the request-reply endpoint (module.yaml's urlPathTemplate: http://HOST:PORT/statefun)")
	rulesFile := fs.String("rules", "", "rule pack file (JSON); default the built-in Shenzhen pack")
	models := fs.String("models", "delay,safety,typhoon", "built-in prediction models to run (comma-separated; all; none)")
	var remotes remoteFlags
	fs.Var(&remotes, "model", "a remote model, name=http://host/path (repeatable)")
	trained := fs.String("trained", "", "directory of models written by `sitetwin train`")
	modelWait := fs.Duration("model-timeout", 10*time.Second, "how long one model run may take")
	debounce := fs.Duration("debounce", 5*time.Second, "how long after an event an expensive model (the delay Monte Carlo) runs; events meanwhile add no run")
	prefix := fs.String("topic-prefix", "sitetwin", "prefix of the output topics (<prefix>.alerts, .deadletter, .outbox); must match module.yaml")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json")
	if _, err := parseFlags(fs, args, getenv, 0); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	rules, err := loadRules(*rulesFile)
	if err != nil {
		return err
	}
	reg, err := buildRegistry(*models, remotes, *modelWait, rules)
	if err != nil {
		return err
	}
	if *trained != "" {
		if err := loadTrained(reg, *trained); err != nil {
			return err
		}
	}
	srv, err := statefun.New(statefun.Config{Rules: rules, Models: reg, TopicPrefix: *prefix, Debounce: *debounce, PredictTimeout: *modelWait, Logger: log})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/statefun", srv)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }) //nolint:errcheck // best effort
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *listen, err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Info("statefun functions listening", "url", "http://"+ln.Addr().String()+"/statefun", "functions", "sitetwin/project, sitetwin/city", "models", reg.Names())
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down: %w", err)
	}
	st := srv.Stats()
	log.Info("statefun functions stopped", "batches", st.Batches, "invocations", st.Invocations, "dead_letters", st.DeadLetters)
	return nil
}
