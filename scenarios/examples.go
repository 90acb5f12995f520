package scenarios

import (
	"embed"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// examples are the scenario files of examples/ and their tracks, in the
// binary: the ready drills can be started where no file is at hand (POST
// /api/drills).
//
//go:embed examples/*.json examples/tracks/*.csv
var examples embed.FS

// ReadExample is a ReadFunc over the shipped examples directory
// (scenarios/examples, embedded in the binary): a scenario posted with
// "track_file": "tracks/mangkhut_2018_1822_jma.csv" finds its track. It
// reads nothing outside that directory.
func ReadExample(name string) ([]byte, error) {
	return fs.ReadFile(examples, path.Join("examples", path.Clean("/" + name)[1:]))
}

// Examples returns the names of the shipped scenario files, sorted
// (mangkhut_2018.json ...), for ReadExample.
func Examples() []string {
	es, _ := fs.ReadDir(examples, "examples")
	var out []string
	for _, e := range es {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}
