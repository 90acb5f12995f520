package predict

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"
)

// EnsembleOptions set the ensemble over forecast error behind
// CraneForecast.PExceed. Each member is the advisory's track (resampled
// hourly) moved along and across its heading and made stronger or weaker,
// by errors drawn once per member from standard normals and scaled by a
// standard deviation that grows linearly with lead time:
//
//	sigma(t) = sigma0 + rate·t,  t = hours since Issued
//
// Along-track error makes the storm early or late, cross-track error moves
// its path; the intensity error ε scales the maximum wind by (1+ε) and the
// pressure drop by (1+ε)² (v² ∝ dp). The defaults are sitetwin's (80 km at
// 24 h and 200 km at 72 h for position, 0.10 and 0.19 for intensity), not
// a centre's statistics: set them from the issuing centre's verification
// of its forecasts. The zero value means every default.
type EnsembleOptions struct {
	// Members is the size of the ensemble. 0: 50; at most 1000.
	Members int
	// Seed seeds the PCG generator (math/rand/v2): the same seed gives the
	// same members. Default 0 is a valid seed.
	Seed uint64
	// AlongKm0, AlongKmPerHour: along-track error sd. 0: 20 km, 2.5 km/h.
	AlongKm0, AlongKmPerHour float64
	// CrossKm0, CrossKmPerHour: cross-track error sd. 0: 20 km, 2.5 km/h.
	CrossKm0, CrossKmPerHour float64
	// Intensity0, IntensityPerHour: relative intensity error sd. 0: 0.05,
	// 0.002 per hour (0.10 at 24 h, 0.19 at 72 h).
	Intensity0, IntensityPerHour float64
	// Issued is the origin of lead time; zero: the track's Issued time
	// (an advisory's), else its first point.
	Issued time.Time
}

// MaxEnsembleMembers bounds EnsembleOptions.Members.
const MaxEnsembleMembers = 1000

func (e EnsembleOptions) withDefaults() (EnsembleOptions, error) {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	if e.Members == 0 {
		e.Members = 50
	}
	def(&e.AlongKm0, 20)
	def(&e.AlongKmPerHour, 2.5)
	def(&e.CrossKm0, 20)
	def(&e.CrossKmPerHour, 2.5)
	def(&e.Intensity0, 0.05)
	def(&e.IntensityPerHour, 0.002)
	if e.Members < 1 || e.Members > MaxEnsembleMembers {
		return e, fmt.Errorf("ensemble: %d members, want 1 to %d", e.Members, MaxEnsembleMembers)
	}
	for _, v := range []float64{e.AlongKm0, e.AlongKmPerHour, e.CrossKm0, e.CrossKmPerHour, e.Intensity0, e.IntensityPerHour} {
		if !(v >= 0 && v < 1e4) {
			return e, fmt.Errorf("ensemble: error parameter %v out of range [0, 1e4)", v)
		}
	}
	return e, nil
}

// ensembleDraw is one member's standard-normal errors.
type ensembleDraw struct{ along, cross, intensity float64 }

// runEnsemble returns, per crane, the share of members exceeding the
// in-service limit and the out-of-service rating. Members run in parallel;
// each has its own draws (taken up front in member order), so the result
// does not depend on scheduling.
func runEnsemble(base *trackSteps, wopt WindOptions, avg Averaging, cranes []craneSetup, e EnsembleOptions, cache *MemberCache) (pIn, pOut []float64) {
	var member func(m int) *stepParams
	if cache != nil {
		members := cache.members(base, wopt, avg, e)
		member = func(m int) *stepParams { return members[m] }
	} else {
		draws := memberDraws(e)
		member = func(m int) *stepParams {
			return paramsFromSteps(perturbSteps(base, draws[m], e), wopt.Model, wopt.MaxDistKm, avg, wopt.h10)
		}
	}
	in := make([][]bool, e.Members)
	out := make([][]bool, e.Members)
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), e.Members) {
		wg.Go(func() {
			for m := range next {
				sp := member(m)
				in[m], out[m] = make([]bool, len(cranes)), make([]bool, len(cranes))
				for i, c := range cranes {
					sp.speedsAt(c.at.Lat, c.at.Lon, func(_ int, v float64) {
						jib := v * c.factor
						in[m][i] = in[m][i] || jib > c.inService
						out[m][i] = out[m][i] || c.outOfServ > 0 && jib > c.outOfServ
					})
				}
			}
		})
	}
	for m := range e.Members {
		next <- m
	}
	close(next)
	wg.Wait()
	pIn, pOut = make([]float64, len(cranes)), make([]float64, len(cranes))
	for m := range e.Members {
		for i := range cranes {
			if in[m][i] {
				pIn[i]++
			}
			if out[m][i] {
				pOut[i]++
			}
		}
	}
	for i := range cranes {
		pIn[i] /= float64(e.Members)
		pOut[i] /= float64(e.Members)
	}
	return pIn, pOut
}

// memberDraws returns the members' standard-normal errors, drawn in member
// order from the ensemble's seed.
func memberDraws(e EnsembleOptions) []ensembleDraw {
	rng := rand.New(rand.NewPCG(e.Seed, 0x5177_7717_7e11_0001))
	draws := make([]ensembleDraw, e.Members)
	for m := range draws {
		draws[m] = ensembleDraw{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
	}
	return draws
}

// MemberCache keeps the wind parameters of the ensemble members of the
// latest tracks, so that the projects forecast under one advisory share
// them: they depend on the track, the wind options and the ensemble, not
// on the project, and computing them is most of a forecast (86 % of the
// typhoon model's time in `go run ./bench forecast`). The zero value is
// ready; it is safe for concurrent use, and a set of members is computed
// once even when many forecasts ask for it at the same time.
type MemberCache struct {
	mu      sync.Mutex
	entries []*memberEntry // least recently used first
}

// maxMemberEntries bounds a MemberCache: an advisory and the one before it,
// with room for a drill's.
const maxMemberEntries = 4

type memberEntry struct {
	steps   *trackSteps
	wopt    WindOptions
	avg     Averaging
	ens     EnsembleOptions
	once    sync.Once
	members []*stepParams
}

// members returns the parameters of every member, computing them (in
// parallel) the first time.
func (c *MemberCache) members(base *trackSteps, wopt WindOptions, avg Averaging, e EnsembleOptions) []*stepParams {
	c.mu.Lock()
	var entry *memberEntry
	for i, en := range c.entries {
		if en.wopt == wopt && en.avg == avg && en.ens == e && sameSteps(en.steps, base) {
			entry = en
			c.entries = append(append(c.entries[:i:i], c.entries[i+1:]...), en) // most recent last
			break
		}
	}
	if entry == nil {
		entry = &memberEntry{steps: base, wopt: wopt, avg: avg, ens: e}
		if len(c.entries) == maxMemberEntries {
			c.entries = c.entries[1:]
		}
		c.entries = append(c.entries, entry)
	}
	c.mu.Unlock()
	entry.once.Do(func() {
		draws := memberDraws(e)
		entry.members = make([]*stepParams, e.Members)
		var wg sync.WaitGroup
		next := make(chan int)
		for range min(runtime.GOMAXPROCS(0), e.Members) {
			wg.Go(func() {
				for m := range next {
					entry.members[m] = paramsFromSteps(perturbSteps(base, draws[m], e), wopt.Model, wopt.MaxDistKm, avg, wopt.h10)
				}
			})
		}
		for m := range e.Members {
			next <- m
		}
		close(next)
		wg.Wait()
	})
	return entry.members
}

// sameSteps reports whether two resampled tracks are the same.
func sameSteps(a, b *trackSteps) bool {
	return slices.EqualFunc(a.t, b.t, time.Time.Equal) &&
		slices.Equal(a.lat, b.lat) && slices.Equal(a.lon, b.lon) && slices.Equal(a.pres, b.pres) &&
		slices.Equal(a.env, b.env) && slices.Equal(a.vmax1, b.vmax1) && slices.Equal(a.rmwKm, b.rmwKm) &&
		slices.Equal(a.r30Km, b.r30Km) && slices.Equal(a.r50Km, b.r50Km)
}

// perturbSteps returns a copy of s moved and scaled by one member's errors.
func perturbSteps(s *trackSteps, d ensembleDraw, e EnsembleOptions) *trackSteps {
	n := s.len()
	p := &trackSteps{t: s.t,
		lat: make([]float64, n), lon: make([]float64, n), pres: make([]float64, n), vmax1: make([]float64, n),
		env: s.env, rmwKm: s.rmwKm, r30Km: s.r30Km, r50Km: s.r50Km}
	issued := e.Issued
	if issued.IsZero() {
		issued = s.t[0]
	}
	const kmPerDeg = climadaOneLatM / 1e3
	for k := range n {
		lead := max(0, s.t[k].Sub(issued).Hours())
		along := d.along * (e.AlongKm0 + e.AlongKmPerHour*lead)
		cross := d.cross * (e.CrossKm0 + e.CrossKmPerHour*lead)
		eps := clamp(d.intensity*(e.Intensity0+e.IntensityPerHour*lead), -0.9, 1)
		// heading from the neighbouring hours (km east, km north)
		a, b := max(0, k-1), min(n-1, k+1)
		cos := math.Cos(s.lat[k] * math.Pi / 180)
		he := wrapLon(s.lon[b]-s.lon[a]) * cos * kmPerDeg
		hn := (s.lat[b] - s.lat[a]) * kmPerDeg
		h := math.Hypot(he, hn)
		if h == 0 {
			he, hn, h = 0, 1, 1 // a stationary storm: along-track is north
		}
		he, hn = he/h, hn/h
		east := along*he - cross*hn
		north := along*hn + cross*he
		p.lat[k] = clamp(s.lat[k]+north/kmPerDeg, -89.9, 89.9)
		p.lon[k] = s.lon[k] + east/(kmPerDeg*max(cos, 0.01))
		p.vmax1[k] = s.vmax1[k] * (1 + eps)
		dp := max(0, s.env[k]-s.pres[k]) * (1 + eps) * (1 + eps)
		p.pres[k] = max(850, s.env[k]-dp)
	}
	return p
}
