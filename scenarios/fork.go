package scenarios

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/twin"
)

// Fork returns a deep copy of the twins, sorted by project id, through the
// twin's snapshot codec (the JSON the changelog holds): the copy shares no
// mutable state with the originals, so a drill can apply events to it while
// the live twins go on. The caller must hold the twins still while Fork
// reads them (the goroutine that owns them calls it, or hands it
// snapshots), so that the copy is consistent at one instant.
func Fork(live []*twin.ProjectTwin) ([]*twin.ProjectTwin, error) {
	raws := make([]json.RawMessage, len(live))
	for i, p := range live {
		b, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("fork twin %s: %w", p.ID, err)
		}
		raws[i] = b
	}
	return ForkSnapshots(raws)
}

// ForkSnapshots decodes twin snapshots (a state dump's twins, the
// changelog's values) into new twins, sorted by project id.
func ForkSnapshots(raws []json.RawMessage) ([]*twin.ProjectTwin, error) {
	out := make([]*twin.ProjectTwin, 0, len(raws))
	seen := map[string]bool{}
	for i, raw := range raws {
		p := new(twin.ProjectTwin)
		if err := json.Unmarshal(raw, p); err != nil {
			return nil, fmt.Errorf("fork twin %d: %w", i, err)
		}
		if p.ID == "" {
			return nil, fmt.Errorf("fork twin %d: no project id", i)
		}
		if seen[p.ID] {
			return nil, fmt.Errorf("fork: twin %s appears twice", p.ID)
		}
		seen[p.ID] = true
		// predictions depend on when a model ran; the drill makes its own
		p.Predictions = twin.Predictions{}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *twin.ProjectTwin) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// ForkInstant is the newest event time of the twins: the instant a fork
// stands at.
func ForkInstant(twins []*twin.ProjectTwin) time.Time {
	var t time.Time
	for _, p := range twins {
		if p.Clock.After(t) {
			t = p.Clock
		}
	}
	return t
}

// CityTwins builds the twins of a simulated city as the engine would: its
// bootstrap history applied with twin.Apply under the rule pack. Events the
// twins reject are counted in the error only if none applied.
func CityTwins(city *citysim.City, r *twin.Rules) ([]*twin.ProjectTwin, error) {
	byID := map[string]*twin.ProjectTwin{}
	var ids []string
	var rejected int
	var firstErr error
	for _, e := range city.Bootstrap() {
		if e.Project == twin.CityWide {
			for _, id := range ids {
				if _, err := twin.Apply(byID[id], e, r); err != nil {
					rejected++
				}
			}
			continue
		}
		p, ok := byID[e.Project]
		if !ok {
			p = twin.NewProject(e.Project, r)
		}
		if _, err := twin.Apply(p, e, r); err != nil {
			rejected++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if !ok {
			byID[e.Project] = p
			ids = append(ids, e.Project)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("simulated city: no twin could be built: %w", errors.Join(firstErr))
	}
	slices.Sort(ids)
	out := make([]*twin.ProjectTwin, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out, nil
}
