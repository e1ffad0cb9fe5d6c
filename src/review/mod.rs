//! The review engine: a declarative rule set (`rules/*.toml`) evaluated
//! against one consistent layer [`Snapshot`](crate::layer::registry::Snapshot)
//! for one homestead plot, giving a [`Verdict`] (a value, never an error).
//!
//! * [`rules`]: the checked [`RuleSet`] (`RuleSet::load`) and its errors;
//!   `parse` holds the raw serde layer that rejects unknown keys.
//! * [`verdict`]: the input ([`ReviewInput`]) and output ([`Verdict`],
//!   [`Finding`], [`FeatureRef`]) types, all `Serialize`.
//! * [`eval`]: [`evaluate`], dispatching each rule to `spatial` (overlap,
//!   containment, zone class), `distance` (setbacks) or `records` (area
//!   cap, application limits, one household one homestead); [`prepare`]
//!   builds the side indexes ahead of the first review.
//! * `geom`: measuring in metres. The plot and every candidate feature are
//!   projected to the CGCS2000 3-degree Gauss-Krüger zone of the plot, never
//!   measured in Web Mercator (an 80 m² square at 23°N reads 94.8 m² there).
//!   Candidates come from the layer's R-tree and are clipped to the search
//!   window in Web Mercator before projecting, so a large polygon costs only
//!   the vertices near the plot.
//! * `cache`: per-layer-version side indexes built on first use (parcels by
//!   household, the largest value of a distance attribute), keyed by the
//!   layer's identity so a new layer version never reads an old index.
//!
//! No tokio, no HTTP, no filesystem access except [`RuleSet::load`].

mod cache;
mod distance;
pub mod district;
pub mod eval;
mod geom;
pub mod input;
mod parse;
pub mod record;
mod records;
pub mod rules;
pub mod run;
mod spatial;
pub mod verdict;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fixtures;
#[cfg(test)]
mod tests_geom;
#[cfg(test)]
mod tests_perf;
#[cfg(test)]
mod tests_rules;
#[cfg(test)]
mod tests_support;

pub use eval::{evaluate, prepare};
pub use rules::{
    AppField, Band, Limit, OverlapFilter, Predicate, Rule, RuleError, RuleSet, Setback,
};
pub use verdict::{
    Applicant, Application, Check, FeatureRef, Finding, Outcome, ReviewInput, RuleSetRef, Verdict,
};
