package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sitetwin/sitetwin/connectors"
	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/twin"
)

// remoteFlags collects repeated --model name=URL flags.
type remoteFlags []string

func (r *remoteFlags) String() string { return strings.Join(*r, ",") }

// Set adds one name=URL.
func (r *remoteFlags) Set(v string) error {
	name, u, ok := strings.Cut(v, "=")
	if !ok || name == "" || u == "" {
		return fmt.Errorf("want name=http://host/path, got %q", v)
	}
	*r = append(*r, v)
	return nil
}

// buildRegistry returns the models to run: the built-ins named in list
// ("none" for none, "all" for all) and the remote models.
func buildRegistry(list string, remotes []string, timeout time.Duration, rules *twin.Rules) (*predict.Registry, error) {
	builtin := predict.NewRegistry(rules)
	reg := &predict.Registry{}
	switch list = strings.TrimSpace(list); list {
	case "none", "":
	case "all":
		reg = builtin
	default:
		for _, n := range strings.Split(list, ",") {
			n = strings.TrimSpace(n)
			m, ok := builtin.Get(n)
			if !ok {
				return nil, fmt.Errorf("%w: --models: no built-in model %q (built-in: %s)", errUsage, n, strings.Join(builtin.Names(), ", "))
			}
			if err := reg.Register(m); err != nil {
				return nil, fmt.Errorf("%w: --models: %v", errUsage, err)
			}
		}
	}
	for _, r := range remotes {
		name, u, _ := strings.Cut(r, "=")
		m, err := connectors.NewRemoteModel(name, u, timeout)
		if err != nil {
			return nil, fmt.Errorf("%w: --model: %v", errUsage, err)
		}
		if err := reg.Register(m); err != nil {
			return nil, fmt.Errorf("%w: --model %s: %v", errUsage, name, err)
		}
	}
	return reg, nil
}

// modelsCmd lists the models a run would register.
func modelsCmd(_ context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := flagSet("models", "[--models LIST] [--model name=URL ...]", stderr)
	list := fs.String("models", "all", "built-in models to list (comma-separated, all or none)")
	var remotes remoteFlags
	fs.Var(&remotes, "model", "a remote model, name=http://host/path (repeatable)")
	if _, err := parseFlags(fs, args, getenv, 0); err != nil {
		return err
	}
	reg, err := buildRegistry(*list, remotes, 5*time.Second, twin.DefaultRules())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%-10s %-8s %-10s %s\n", "MODEL", "VERSION", "COST", "RUNS AFTER")
	for _, m := range reg.Models() {
		cost := "cheap"
		if m.Cost() == predict.Expensive {
			cost = "expensive"
		}
		after := "any event (readings only when they change an alarm)"
		if needs := m.Needs(); needs != nil {
			after = strings.Join(needs, ", ")
		}
		fmt.Fprintf(stdout, "%-10s %-8s %-10s %s\n", m.Name(), m.Version(), cost, after)
	}
	return nil
}
