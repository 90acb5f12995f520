package predict

import "math"

// calibrate sets the parameters of WindAuto, sitetwin's calibrated model,
// at every step.
//
// Pressure-only profiles (H08, and H10 with vmax from pressure) know the
// storm's intensity but not its size: a large typhoon such as Mangkhut
// (2018) keeps gales 500 km from its centre, which they put near 200 km,
// and so underpredict by about a third 100 km away. WindAuto keeps the
// Holland et al. (2010) profile v = vmax [(rmw/r)^B exp(1-(rmw/r)^B)]^x
// and fits it to what the advisory says about the size:
//
//   - vmax is the advisory's maximum wind converted to 1 minute (not the
//     pressure estimate), rmw the advisory's or CLIMADA's estimate from
//     pressure;
//   - inside rmw x is 0.5 (Holland et al. 2010); outside, x is one
//     constant chosen so that the profile passes through the 30-kt and
//     50-kt 10-minute winds (converted to 1 minute) at the advisory's mean
//     R30 and R50 (least squares in log wind when both are given);
//   - B is Holland's (1980) surface value vmax² e rho / dp (clipped to
//     CLIMADA's 0.81..2.025) when one radius or none is given; with both
//     radii B is fitted too (golden-section search over the clip interval);
//   - with no radius the outer exponent takes Holland et al.'s (2010)
//     default periphery: 17 m/s at 300 km.
//
// A constant outer x keeps the profile decreasing beyond rmw (Holland et
// al.'s linear x can make it grow again; CLIMADA floors x at 0.4 for that
// reason). x is kept within 0.1..1.2. Beyond the outermost radius fitted
// (R30, else R50, else 300 km) nothing in the advisory supports the
// profile's slow decay, and the storm's winds merge with the
// environment's: the wind fades by exp(-((r-rOut)/(0.5 rOut))²). No wind is
// computed beyond 1000 km. Translation is added as for H10.
func (sp *stepParams) calibrate(s *trackSteps, avg Averaging) {
	v30 := 30 * knotMS / avg.OneToTen
	v50 := 50 * knotMS / avg.OneToTen
	for k := range sp.t {
		vmax := s.vmax1[k]
		sp.vmax[k] = vmax
		rad := sp.rad[k]
		b0 := clamp(vmax*vmax*math.E*climadaRhoAir/sp.pdelta[k], climadaBMin, climadaBMax)
		var rs, vs [2]float64
		n := 0
		for _, o := range []struct{ rKm, v float64 }{{s.r30Km[k], v30}, {s.r50Km[k], v50}} {
			if r := o.rKm * 1e3; r > 1.2*rad && o.v < 0.98*vmax {
				rs[n], vs[n] = r, o.v
				n++
			}
		}
		if n == 0 && rad < 0.8*climadaH10RnM && climadaH10VnMS < 0.98*vmax {
			rs[0], vs[0], n = climadaH10RnM, climadaH10VnMS, 1
		}
		b, x := b0, 0.5
		switch n {
		case 1:
			x = outerExponent(rad, vmax, b, rs[:1], vs[:1])
		case 2:
			b = goldenMin(climadaBMin, climadaBMax, func(b float64) float64 {
				return outerMisfit(rad, vmax, b, rs[:2], vs[:2])
			})
			x = outerExponent(rad, vmax, b, rs[:2], vs[:2])
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			x = 0.5
		}
		sp.holB[k], sp.xN[k] = b, clamp(x, 0.1, 1.2)
		for _, r := range rs[:n] {
			sp.rOut[k] = max(sp.rOut[k], r)
		}
	}
}

// outerExponent is the least-squares x of ln(v/vmax) = x ln f(r) with
// f = (rmw/r)^B exp(1-(rmw/r)^B).
func outerExponent(rad, vmax, b float64, rs, vs []float64) float64 {
	num, den := 0.0, 0.0
	for i, r := range rs {
		a := holland2010LogShape(rad, b, r)
		num += a * math.Log(vs[i]/vmax)
		den += a * a
	}
	if den == 0 {
		return 0.5
	}
	return num / den
}

// outerMisfit is the squared log-wind error of the best x for this B.
func outerMisfit(rad, vmax, b float64, rs, vs []float64) float64 {
	x := outerExponent(rad, vmax, b, rs, vs)
	e := 0.0
	for i, r := range rs {
		d := x*holland2010LogShape(rad, b, r) - math.Log(vs[i]/vmax)
		e += d * d
	}
	return e
}

// holland2010LogShape is ln[(rmw/r)^B exp(1-(rmw/r)^B)].
func holland2010LogShape(rad, b, r float64) float64 {
	rmn := math.Pow(rad/r, b)
	return math.Log(rmn) + 1 - rmn
}

// goldenMin minimises f over [lo, hi] by golden-section search (60
// iterations: far below the precision that matters).
func goldenMin(lo, hi float64, f func(float64) float64) float64 {
	const invPhi = 0.6180339887498949
	a, b := lo, hi
	c, d := b-invPhi*(b-a), a+invPhi*(b-a)
	fc, fd := f(c), f(d)
	for range 60 {
		if fc < fd {
			b, d, fd = d, c, fc
			c = b - invPhi*(b-a)
			fc = f(c)
		} else {
			a, c, fc = c, d, fd
			d = a + invPhi*(b-a)
			fd = f(d)
		}
	}
	return (a + b) / 2
}
