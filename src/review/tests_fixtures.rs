//! The labelled applications of the committed small fixtures
//! (`fixtures/small/applications.geojson`, layers from `layers/*.toml`):
//! every application's outcome and every rule's status must match its label
//! (rules not named in the label must pass). The labels come from the
//! generator's own reference check, kept only where each status is at least
//! 2 m / 3 m² away from its threshold.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use geo::{Coord, LineString, MultiPolygon, Polygon};
use serde_json::Value as Json;

use super::{Applicant, Application, ReviewInput, RuleSet, evaluate};
use crate::layer::config::read_dir;
use crate::layer::load::load_all;
use crate::layer::registry::Snapshot;

const APPLICATIONS: &str = "fixtures/small/applications.geojson";

fn ring(v: &Json) -> Option<LineString> {
    let pts = v.as_array()?;
    pts.iter()
        .map(|p| {
            Some(Coord {
                x: p.get(0)?.as_f64()?,
                y: p.get(1)?.as_f64()?,
            })
        })
        .collect::<Option<Vec<_>>>()
        .map(LineString::new)
}

fn polygon(v: &Json) -> Option<Polygon> {
    let rings = v.as_array()?;
    let ext = ring(rings.first()?)?;
    let holes = rings[1..].iter().map(ring).collect::<Option<Vec<_>>>()?;
    Some(Polygon::new(ext, holes))
}

fn plot(g: &Json) -> Option<MultiPolygon> {
    let c = g.get("coordinates")?;
    match g.get("type")?.as_str()? {
        "Polygon" => Some(MultiPolygon::new(vec![polygon(c)?])),
        "MultiPolygon" => c
            .as_array()?
            .iter()
            .map(polygon)
            .collect::<Option<Vec<_>>>()
            .map(MultiPolygon::new),
        _ => None,
    }
}

struct Case {
    name: String,
    input: ReviewInput,
    outcome: String,
    rules: BTreeMap<String, String>,
}

fn case(f: &Json) -> Option<Case> {
    let p = f.get("properties")?;
    let (a, app, label) = (p.get("applicant")?, p.get("application")?, p.get("label")?);
    let str_of = |v: &Json, k: &str| v.get(k).and_then(Json::as_str).map(str::to_string);
    Some(Case {
        name: str_of(label, "case")?,
        input: ReviewInput {
            plot: plot(f.get("geometry")?)?,
            applicant: Applicant {
                household_id: str_of(a, "household_id")?,
                name: str_of(a, "name").unwrap_or_default(),
            },
            application: Application {
                terrain_class: str_of(app, "terrain_class")?,
                floors: u32::try_from(app.get("floors")?.as_u64()?).ok()?,
                floor_area_m2: app.get("floor_area_m2")?.as_f64()?,
                replaces_parcel: str_of(app, "replaces_parcel"),
            },
        },
        outcome: str_of(label, "expect_outcome")?,
        rules: label
            .get("expect_rules")?
            .as_object()?
            .iter()
            .map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect::<Option<_>>()?,
    })
}

/// Loads every layer of `layers_dir` and the rule file checked against it.
fn load(layers_dir: &Path) -> (Snapshot, RuleSet) {
    let defs = read_dir(layers_dir).expect("layers/*.toml");
    let mut layers = BTreeMap::new();
    for r in load_all(&defs, 2, &|_, _| {}) {
        let (layer, _) = r.expect("fixture layer loads");
        layers.insert(layer.def.id.clone(), Arc::new(layer));
    }
    let catalog: BTreeMap<String, Vec<String>> = defs
        .iter()
        .map(|d| (d.id.clone(), d.attributes.clone()))
        .collect();
    let rules = RuleSet::load(Path::new("rules/homestead.toml"), &|id: &str| {
        catalog.get(id).cloned()
    })
    .expect("rules load against the fixture catalog");
    (Snapshot { layers }, rules)
}

/// Reviews every labelled application; returns the mismatches and the
/// evaluation times (µs).
fn check_labels(snap: &Snapshot, rules: &RuleSet, applications: &Path) -> (Vec<String>, Vec<f64>) {
    let text = std::fs::read_to_string(applications).expect("applications");
    let json: Json = serde_json::from_str(&text).expect("GeoJSON");
    let features = json
        .get("features")
        .and_then(Json::as_array)
        .expect("features");
    assert!(!features.is_empty());
    let mut wrong = Vec::new();
    let mut times = Vec::new();
    let mut by_outcome = BTreeMap::new();
    for f in features {
        let c = case(f).expect("well-formed application");
        let t = Instant::now();
        let v = evaluate(rules, snap, &c.input);
        times.push(t.elapsed().as_secs_f64() * 1e6);
        *by_outcome.entry(v.outcome.as_str()).or_insert(0) += 1;
        if v.outcome.as_str() != c.outcome {
            wrong.push(format!(
                "{}: outcome {} (label {})",
                c.name,
                v.outcome.as_str(),
                c.outcome
            ));
        }
        for fd in &v.findings {
            let want = c.rules.get(&fd.rule).map_or("pass", String::as_str);
            if fd.status.as_str() != want {
                wrong.push(format!(
                    "{}: {} is {} (label {want}): {}",
                    c.name,
                    fd.rule,
                    fd.status.as_str(),
                    fd.message
                ));
            }
        }
        assert!(v.layers.values().all(|t| t != "missing"), "{:?}", v.layers);
    }
    eprintln!(
        "{} labelled applications, outcomes {by_outcome:?}",
        features.len()
    );
    (wrong, times)
}

#[test]
fn labelled_small_fixture_applications() {
    if !Path::new(APPLICATIONS).is_file() {
        eprintln!("{APPLICATIONS} not generated yet: skipped");
        return;
    }
    let (snap, rules) = load(Path::new("layers"));
    let (wrong, _) = check_labels(&snap, &rules, Path::new(APPLICATIONS));
    assert!(
        wrong.is_empty(),
        "{} mismatches:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

fn percentiles(mut t: Vec<f64>) -> String {
    t.sort_by(f64::total_cmp);
    let q = |p: f64| t[((t.len() - 1) as f64 * p) as usize];
    let mean = t.iter().sum::<f64>() / t.len() as f64;
    format!(
        "n {} mean {mean:.0} µs, p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        t.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0)
    )
}

/// The district scale (~1 M parcels) from `tudi fixtures --scale district
/// --out DIR/data --layers-dir DIR/layers`: labels, then timing over its
/// applications and over 20 000 plots dropped onto existing parcels. Run
/// with `TUDI_DISTRICT=DIR cargo test --release --lib
/// review::tests_fixtures::district -- --ignored --nocapture`.
#[test]
#[ignore]
fn district_labels_and_timing() {
    let Ok(dir) = std::env::var("TUDI_DISTRICT") else {
        eprintln!("set TUDI_DISTRICT to the folder of a district-scale fixture");
        return;
    };
    let dir = Path::new(&dir);
    let t = Instant::now();
    let (snap, rules) = load(&dir.join("layers"));
    eprintln!("loaded in {:?}", t.elapsed());
    let t = Instant::now();
    super::prepare(&rules, &snap);
    eprintln!("prepare (side indexes) {:?}", t.elapsed());
    let (wrong, times) = check_labels(&snap, &rules, &dir.join("data/applications.geojson"));
    eprintln!("labelled applications: {}", percentiles(times));
    assert!(
        wrong.is_empty(),
        "{} mismatches:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    let parcels = snap.get("homestead_parcels").expect("parcels");
    let step = (parcels.features.len() / 20_000).max(1);
    let mut times = Vec::new();
    let mut outcomes = BTreeMap::new();
    for f in parcels.features.iter().step_by(step) {
        let c = parcels.bbox(f).center();
        let (lon, lat) = crate::crs::mercator_to_lonlat(c.x + 4.0, c.y + 4.0);
        let d = 4.5 / 111_000.0;
        let sq = geo::Rect::new(
            Coord {
                x: lon - d,
                y: lat - d,
            },
            Coord {
                x: lon + d,
                y: lat + d,
            },
        );
        let input = ReviewInput {
            plot: MultiPolygon::new(vec![sq.to_polygon()]),
            applicant: Applicant {
                household_id: "H0".into(),
                name: String::new(),
            },
            application: Application {
                terrain_class: "plain".into(),
                floors: 3,
                floor_area_m2: 200.0,
                replaces_parcel: None,
            },
        };
        let t = Instant::now();
        let v = evaluate(&rules, &snap, &input);
        times.push(t.elapsed().as_secs_f64() * 1e6);
        *outcomes.entry(v.outcome.as_str()).or_insert(0) += 1;
    }
    eprintln!(
        "plots on parcels: {} (outcomes {outcomes:?})",
        percentiles(times)
    );
}
