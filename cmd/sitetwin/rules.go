package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sitetwin/sitetwin/twin"
)

// rulesCmd prints the built-in rule pack, or checks a pack file.
func rulesCmd(_ context.Context, args []string, stdout, stderr io.Writer, _ env) error {
	fs := flagSet("rules", "[--check FILE]", stderr)
	check := fs.String("check", "", "check a rule pack file and report its errors")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *check != "" {
		r, err := loadRules(*check)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: rule pack %s %s (%s) is valid: %d sensor rules\n", *check, r.Name, r.Version, r.Jurisdiction, len(r.Sensor))
		return nil
	}
	_, err := stdout.Write(twin.DefaultRulesJSON())
	return err
}
