// Package predict holds sitetwin's prediction models and what they share:
// the delay model (earned schedule and Monte Carlo schedule risk over the
// milestone network), the typhoon wind model (parametric wind fields from a
// track, brought to each crane's jib height, with an ensemble over track
// error), and the safety model (P(incident within 30 days) per site from
// SiteFeatures: a bagged forest of golearn CART trees, exported into its
// own JSON model file, with a logistic-regression baseline).
//
// It is pure computation over twin (layer 1): gonum and golearn, no network,
// no clocks; every random draw comes from a seeded source, so the same inputs
// give the same predictions.
package predict
