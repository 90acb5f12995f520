package citysim

import (
	"math"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// Sensor kinds of a slot.
const (
	skPM10 = iota
	skPM25
	skNoise
	skWind
	skGust
	skTemperature
	skHumidity
	skRainfall
	skVibration
	skCraneLoad
	skCraneTilt
	skJibWind
	skPit
)

var slotKinds = [...]string{
	twin.SensorPM10, twin.SensorPM25, twin.SensorNoise, twin.SensorWindSpeed, twin.SensorWindGust,
	twin.SensorTemperature, twin.SensorHumidity, twin.SensorRainfall, twin.SensorVibration,
	twin.SensorCraneLoad, twin.SensorCraneTilt, twin.SensorWindSpeed, twin.SensorPitDisplacement,
}

// slotUnits holds each slot kind's canonical unit.
var slotUnits = func() (u [len(slotKinds)]string) {
	for i, k := range slotKinds {
		u[i] = twin.CanonicalUnit(k)
	}
	return u
}()

// slot is one sensor: a kind at a site, or of a piece of equipment.
type slot struct {
	site int32
	kind uint8
	eq   int16 // crane or pit index within the site
}

// buildSlots lists every sensor of the city: nine per site (PM10, PM2.5,
// noise, wind, gust, temperature, humidity, rainfall, vibration), three per
// tower crane (load, tilt, wind at the jib) and one per pit. Live readings
// pick a sensor uniformly, so each reports at about 0.9 × Rate / sensors
// per second.
func (c *City) buildSlots() {
	for _, s := range c.sites {
		for k := skPM10; k <= skVibration; k++ {
			c.slots = append(c.slots, slot{site: int32(s.idx), kind: uint8(k)})
		}
		for j := range s.cranes {
			for _, k := range []int{skCraneLoad, skCraneTilt, skJibWind} {
				c.slots = append(c.slots, slot{site: int32(s.idx), kind: uint8(k), eq: int16(j)})
			}
		}
		for j := range s.pits {
			c.slots = append(c.slots, slot{site: int32(s.idx), kind: skPit, eq: int16(j)})
		}
	}
}

// reading builds a sensor reading of a random sensor at t.
//
// Ground truth of the readings (local time is Asia/Shanghai):
//   - Wind at 10 m: the month's mean (facts.go) × a daily factor (±25%,
//     smooth) × a diurnal cycle (0.65 at 03:00 to 1.35 at 15:00) × an hourly
//     factor (±10%) × the site's exposure (B 1.15, C 0.9, D 0.75, ±10%) ×
//     a gusty spell's multiplier; a reading is that × 0.85-1.15, a gust
//     × 1.3-1.6 (1.5-1.9 in a spell). A crane's anemometer reads the mean
//     brought to its height by the GB 50009 power law, × 0.85-1.15.
//   - Temperature: the month's normal mean ± half its range as a cosine
//     peaking at 14:30, + a smooth daily anomaly (±1.5 °C), + urban heat
//     (C 0.4, D 0.8 °C), − 3 °C in rain, + 0.3 °C noise. Humidity mirrors
//     it (±10% around the month's normal, 92-98% in rain).
//   - PM10: 45 µg/m³ + a morning peak (25, 08:30) + an evening peak (30,
//     19:30) + 10 in working hours (07:00-19:00), × season, district and
//     site factors, a smooth daily factor (±15%) and lognormal noise (12%),
//     × 0.6 in rain, kept within 8-135; a dust spike replaces it with the
//     spike's level ± 10%. PM2.5 is 30-50% of PM10 (at most 70), 25-35% in a
//     spike.
//   - Noise: 58-68 dB(A) + site offset (±1, at most 69.5) from 07:00 to
//     20:00, falling to about 50 by 21:30, 45-52 at night, rising from
//     06:30; noisy night work replaces it with its level ± 2.
//   - Vibration: 0.2-1.6 mm/s by day (2% of readings are piling at
//     1.6-2.3), 0.02-0.25 at night, 0.5-1.8 during night work.
//   - Rainfall: what the site's gauge collected since its previous reading
//     (at most the last 24 h), in 0.1 mm tips.
//   - Crane load: while the site works (07:00-20:00 or during night work)
//     70% of readings are lifts at 15-85% of the rated moment, of which a
//     share of 0.006 × risk are overloads at 90.5-106%; otherwise idle at
//     0-8% (0-3% at night). Tilt: the crane's standing deviation (±1.2 ‰),
//     plus 0-0.8 ‰ under a lift, plus 0.15 ‰ noise.
//   - Pit displacement: see pit, plus its surges after Start (see surge).
func (c *City) reading(t time.Time) *twin.Event {
	l := &c.live
	sl := c.slots[l.rng.IntN(len(c.slots))]
	s := c.sites[sl.site]
	kind, equip := slotKinds[sl.kind], ""
	var v float64
	switch sl.kind {
	case skPM10:
		v = math.Round(c.pm10(s, t))
	case skPM25:
		v = math.Round(c.pm25(s, t))
	case skNoise:
		v = round(c.noise(s, t), 1)
	case skWind:
		v = round(c.windMean(s, t)*uni(l.rng, 0.85, 1.15), 1)
	case skGust:
		_, lo, hi := c.gustAt(s, t)
		v = round(c.windMean(s, t)*uni(l.rng, lo, hi), 1)
	case skTemperature:
		v = round(c.temperature(s, t), 1)
	case skHumidity:
		v = math.Round(c.humidity(s, t))
	case skRainfall:
		v = c.rainfall(s, t)
	case skVibration:
		v = round(c.vibration(s, t), 2)
	case skCraneLoad:
		cr := s.cranes[sl.eq]
		equip = cr.id
		v = round(c.craneLoad(s, t), 1)
	case skCraneTilt:
		cr := s.cranes[sl.eq]
		equip = cr.id
		v = round(c.craneTilt(s, cr, t), 2)
	case skJibWind:
		cr := s.cranes[sl.eq]
		equip = cr.id
		v = round(c.windMean(s, t)*math.Pow(cr.height/10, s.alpha)*uni(l.rng, 0.85, 1.15), 1)
	case skPit:
		pt := s.pits[sl.eq]
		equip = pt.id
		dt := c.pitDays(t)
		_, surged := c.surgeAt(pt, dt)
		v = round(pt.displacement(dt)+surged+0.08*l.rng.NormFloat64(), 2)
	}
	return &twin.Event{
		ID: c.liveID(), Type: twin.TypeSensorReading, Source: s.source, Time: t,
		Project: s.p.id, Site: s.id,
		Data: &twin.SensorReading{Kind: kind, Value: v, Unit: slotUnits[sl.kind], Equipment: equip},
	}
}

// Fields of the smooth random weather.
const (
	fieldWindDay = iota + 1
	fieldWindHour
	fieldTemp
	fieldRH
	fieldPM
)

// localHour returns the local time of day in hours.
func localHour(t time.Time) float64 {
	return float64((t.Unix()+8*3600)%86400)/3600 + float64(t.Nanosecond())/3.6e12
}

func month(t time.Time) int { return int(t.In(cst).Month()) - 1 }

// working reports whether the site works at local hour h: 07:00-20:00, or
// during noisy night work.
func (s *site) working(h float64, t time.Time) bool {
	return h >= 7 && h < 20 || s.nightWork(t)
}

func (s *site) nightWork(t time.Time) bool { return !t.Before(s.noiseFrom) && t.Before(s.noiseUntil) }

func (s *site) dustSpike(t time.Time) bool { return !t.Before(s.dustFrom) && t.Before(s.dustUntil) }

// windMean returns the mean 10 m wind at a site, m/s.
func (c *City) windMean(s *site, t time.Time) float64 {
	h := localHour(t)
	mult, _, _ := c.gustAt(s, t)
	v := climateWind[month(t)] *
		(1 + 0.25*c.smooth(fieldWindDay, t, day)) *
		(1 + 0.35*math.Sin(2*math.Pi*(h-9)/24)) *
		(1 + 0.1*c.smooth(fieldWindHour, t, time.Hour)) *
		s.wind * mult
	return max(0.2, v)
}

func (c *City) temperature(s *site, t time.Time) float64 {
	m, h := month(t), localHour(t)
	mean := (climateTmax[m] + climateTmin[m]) / 2
	amp := (climateTmax[m] - climateTmin[m]) / 2
	v := mean + amp*math.Cos(2*math.Pi*(h-14.5)/24) + 1.5*c.smooth(fieldTemp, t, day) + s.heat + 0.3*c.live.rng.NormFloat64()
	if c.rainAt(t) > 0 {
		v -= 3
	}
	return v
}

func (c *City) humidity(s *site, t time.Time) float64 {
	m, h := month(t), localHour(t)
	if c.rainAt(t) > 0 {
		return uni(c.live.rng, 92, 98)
	}
	v := climateRH[m] - 10*math.Cos(2*math.Pi*(h-14.5)/24) + 5*c.smooth(fieldRH, t, day) + 1.5*c.live.rng.NormFloat64() - s.heat
	return min(100, max(25, v))
}

func bell(x, mu, sigma float64) float64 { return math.Exp(-(x - mu) * (x - mu) / (2 * sigma * sigma)) }

// pm10 returns the PM10 at a site, µg/m³, and whether it is a dust spike.
func (c *City) pm10(s *site, t time.Time) float64 {
	l := &c.live
	if s.dustSpike(t) {
		return s.dustLevel * uni(l.rng, 0.9, 1.1)
	}
	return c.pm10Normal(s, t)
}

func (c *City) pm10Normal(s *site, t time.Time) float64 {
	h := localHour(t)
	base := 45 + 25*bell(h, 8.5, 1.6) + 30*bell(h, 19.5, 2.0)
	if h >= 7 && h < 19 {
		base += 10
	}
	v := base * climateDust[month(t)] * s.dust * (1 + 0.15*c.smooth(fieldPM, t, day)) * math.Exp(0.12*c.live.rng.NormFloat64())
	if c.rainAt(t) > 0 {
		v *= 0.6
	}
	return min(135, max(8, v))
}

func (c *City) pm25(s *site, t time.Time) float64 {
	l := &c.live
	if s.dustSpike(t) {
		return s.dustLevel * uni(l.rng, 0.9, 1.1) * uni(l.rng, 0.25, 0.35)
	}
	return min(70, c.pm10Normal(s, t)*uni(l.rng, 0.3, 0.5))
}

func (c *City) noise(s *site, t time.Time) float64 {
	r := c.live.rng
	if s.nightWork(t) {
		return s.noiseLevel + uni(r, -2, 2)
	}
	switch h := localHour(t); {
	case h >= 7 && h < 20:
		return min(69.5, uni(r, 58, 68)+s.noise)
	case h >= 20 && h < 21.5:
		return 63 - 13*(h-20)/1.5 + uni(r, -3, 3)
	case h >= 6.5 && h < 7:
		return 49 + 13*(h-6.5)/0.5 + uni(r, -3, 3)
	}
	return uni(r, 45, 52)
}

func (c *City) vibration(s *site, t time.Time) float64 {
	r := c.live.rng
	h := localHour(t)
	switch {
	case s.nightWork(t):
		return uni(r, 0.5, 1.8)
	case h >= 7 && h < 20:
		if r.Float64() < 0.02 {
			return uni(r, 1.6, 2.3)
		}
		return uni(r, 0.2, 1.6)
	}
	return uni(r, 0.02, 0.25)
}

// rainfall returns what the site's gauge collected since its last reading,
// in whole 0.1 mm tips, keeping the remainder for the next reading.
func (c *City) rainfall(s *site, t time.Time) float64 {
	from := s.rainLast
	if from.IsZero() {
		from = t.Add(-10 * time.Minute)
	}
	from = laterOf(from, t.Add(-24*time.Hour))
	acc := s.rainCarry
	for _, ep := range c.live.rain.eps {
		a, b := laterOf(from, ep.from), earlierOf(t, ep.to)
		if b.After(a) {
			acc += b.Sub(a).Hours() * ep.mmph * s.rain
		}
	}
	v := math.Floor(acc*10+1e-9) / 10
	s.rainCarry = acc - v
	s.rainLast = t
	return round(v, 1)
}

func (c *City) craneLoad(s *site, t time.Time) float64 {
	r := c.live.rng
	if !s.working(localHour(t), t) {
		return uni(r, 0, 3)
	}
	if r.Float64() >= 0.7 {
		return uni(r, 0, 8)
	}
	if r.Float64() < 0.006*s.p.contractor.risk {
		s.noteAlarm(t)
		return uni(r, 90.5, 106)
	}
	return uni(r, 15, 85)
}

func (c *City) craneTilt(s *site, cr *crane, t time.Time) float64 {
	r := c.live.rng
	v := cr.tilt + 0.15*r.NormFloat64()
	if s.working(localHour(t), t) && r.Float64() < 0.7 {
		v += math.Copysign(uni(r, 0, 0.8), cr.tilt)
	}
	return v
}
