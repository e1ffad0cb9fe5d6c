//! Tests of the review engine on the synthetic world of `tests_support`:
//! each rule with plots that pass, fail and sit on the threshold, the
//! measurements against independent geodesic computations, and the outcome
//! logic.

use geo::{Area, Coord, Distance, Geodesic, GeodesicArea, MapCoords, MultiPolygon, Point};

use super::tests_support::*;
use super::{Finding, Outcome, Verdict, evaluate};
use crate::crs::lonlat_to_mercator;

fn finding<'v>(v: &'v Verdict, rule: &str) -> &'v Finding {
    v.findings
        .iter()
        .find(|f| f.rule == rule)
        .expect("finding for every rule")
}

fn review(plot: MultiPolygon) -> Verdict {
    let snap = world();
    let rules = homestead_rules(&snap);
    evaluate(&rules, &snap, &input(plot))
}

fn status(v: &Verdict, rule: &str) -> Outcome {
    finding(v, rule).status
}

/// A clean plot: 可建, inside the village, nothing near.
fn clean() -> MultiPolygon {
    square(50.0, 50.0, 79.0)
}

#[test]
fn clean_plot_passes_every_rule_in_file_order() {
    let v = review(clean());
    let ids: Vec<&str> = v.findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(
        ids,
        [
            "one_household",
            "area_cap",
            "floors",
            "farmland",
            "eco_redline",
            "village_boundary",
            "zoning",
            "road_setback",
            "power_setback",
            "river_setback",
            "heritage",
            "hazard",
            "parcel_conflict"
        ]
    );
    for f in &v.findings {
        assert_eq!(f.status, Outcome::Pass, "{}: {}", f.rule, f.message);
    }
    assert_eq!(v.outcome, Outcome::Pass);
    assert_eq!(v.crs, "EPSG:4547");
    assert!((v.plot_area_m2 - 79.0).abs() < 1e-6, "{}", v.plot_area_m2);
    // Every layer a rule reads is listed with its version tag.
    for id in [
        "homestead_parcels",
        "households",
        "farmland",
        "eco_redline",
        "village_boundary",
        "zoning",
        "roads",
        "power_lines",
        "rivers",
        "levees",
        "heritage",
        "hazard",
        "flood",
    ] {
        let tag = v
            .layers
            .get(id)
            .unwrap_or_else(|| panic!("layer {id} recorded"));
        assert!(tag.starts_with("1.t"), "{id}: {tag}");
    }
    assert_eq!(v.rule_set.id, "homestead");
}

#[test]
fn area_cap_on_both_sides_of_80() {
    for (area, want) in [
        (79.9, Outcome::Pass),
        (80.0, Outcome::Pass),
        (80.1, Outcome::Fail),
    ] {
        let v = review(square(50.0, 50.0, area));
        let f = finding(&v, "area_cap");
        assert_eq!(f.status, want, "{area} m²: {}", f.message);
        assert!(
            (f.measured.unwrap_or(0.0) - area).abs() < 1e-4,
            "{:?}",
            f.measured
        );
        assert_eq!(f.threshold, Some(80.0));
        assert_eq!(f.unit, "m2");
        assert_eq!(v.outcome, want);
    }
}

#[test]
fn area_cap_by_terrain_and_unknown_terrain() {
    let snap = world();
    let rules = homestead_rules(&snap);
    let mut req = input(square(50.0, 50.0, 110.0));
    for (terrain, want) in [
        ("plain", Outcome::Fail),
        ("urban_suburb", Outcome::Fail),
        ("hilly", Outcome::Pass),
        ("mountainous", Outcome::Pass),
        ("swamp", Outcome::Manual),
    ] {
        req.application.terrain_class = terrain.into();
        let v = evaluate(&rules, &snap, &req);
        assert_eq!(status(&v, "area_cap"), want, "{terrain}");
    }
}

#[test]
fn projected_area_matches_geodesic_area() {
    let plots = [
        square(50.0, 50.0, 80.0),
        square(-900.0, 900.0, 150.0),
        MultiPolygon::new(vec![geo::Polygon::new(
            line(&[
                (0.0, 0.0),
                (13.0, 1.0),
                (15.0, 9.0),
                (6.0, 12.0),
                (-2.0, 7.0),
                (0.0, 0.0),
            ]),
            vec![],
        )]),
    ];
    for plot in plots {
        let v = review(plot.clone());
        let geodesic = plot.geodesic_area_unsigned();
        let rel = (v.plot_area_m2 - geodesic).abs() / geodesic;
        assert!(
            rel < 5e-4,
            "GK {} vs geodesic {geodesic}: {rel}",
            v.plot_area_m2
        );
    }
}

/// Why we never measure in Web Mercator: an 80 m² square at 23°N reads
/// ~94.85 m² there (+18.6 %), which would wrongly fail the 80 m² cap.
#[test]
fn web_mercator_would_overstate_area() {
    let plot = square(50.0, 50.0, 80.0);
    let merc = plot.map_coords(|c| {
        let (x, y) = lonlat_to_mercator(c.x, c.y);
        Coord { x, y }
    });
    let a = merc.unsigned_area();
    assert!((a - 94.85).abs() < 0.05, "Web Mercator area {a}");
    assert_eq!(status(&review(plot), "area_cap"), Outcome::Pass);
}

/// National road: centreline y = -300, half width 10 m, so the highway
/// land's outer edge is y = -290 and the setback 20 m.
#[test]
fn road_setback_from_highway_land_edge() {
    for (gap, want) in [
        (19.9, Outcome::Fail),
        (20.0, Outcome::Pass),
        (20.1, Outcome::Pass),
    ] {
        let v = review(square(0.0, -290.0 + gap, 64.0));
        let f = finding(&v, "road_setback");
        assert_eq!(f.status, want, "{gap} m: {}", f.message);
        let d = f.measured.expect("measured distance");
        assert!((d - gap).abs() < 1e-6, "{gap} m measured as {d}");
        assert_eq!(f.threshold, Some(20.0));
        let r = &f.features[0];
        assert_eq!(r.attributes["road_class"], "national");
        assert_eq!(r.distance_m, Some(d));
    }
    // Inside the highway land: distance 0, fails.
    let v = review(square(0.0, -295.0, 64.0));
    assert_eq!(status(&v, "road_setback"), Outcome::Fail);
    assert_eq!(finding(&v, "road_setback").measured, Some(0.0));
}

#[test]
fn distance_matches_geodesic_distance() {
    let v = review(square(0.0, -290.0 + 19.9, 64.0));
    let f = finding(&v, "road_setback");
    let geo::Geometry::LineString(l) = &f.conflicts[0] else {
        panic!("nearest-points line expected, got {:?}", f.conflicts);
    };
    let (a, b) = (Point(l.0[0]), Point(l.0[1]));
    let geodesic = Geodesic.distance(a, b);
    // The line runs to the centreline: the edge distance plus the half width.
    let gk = f.measured.unwrap_or(0.0) + 10.0;
    assert!(
        (gk - geodesic).abs() < 0.01_f64.max(5e-4 * geodesic),
        "GK {gk} vs geodesic {geodesic}"
    );
}

#[test]
fn village_road_has_no_setback() {
    // 2 m from the village road's edge (y = -400 + 3).
    let v = review(square(0.0, -395.0, 64.0));
    assert_eq!(
        status(&v, "road_setback"),
        Outcome::Pass,
        "{}",
        finding(&v, "road_setback").message
    );
}

#[test]
fn power_setback_bands() {
    // 220 kV at x = -600 lies in the 154-330 kV band: 15 m.
    let v = review(square(-600.0 + 14.9, 0.0, 64.0));
    assert_eq!(status(&v, "power_setback"), Outcome::Fail);
    assert_eq!(finding(&v, "power_setback").threshold, Some(15.0));
    let v = review(square(-600.0 + 15.1, 0.0, 64.0));
    assert_eq!(status(&v, "power_setback"), Outcome::Pass);
    // 500 kV at x = -800: 20 m.
    let v = review(square(-800.0 + 19.0, 0.0, 64.0));
    assert_eq!(status(&v, "power_setback"), Outcome::Fail);
    assert_eq!(finding(&v, "power_setback").threshold, Some(20.0));
    // 20 kV at x = -700 is in no band: a person checks it.
    let v = review(square(-700.0 + 3.0, 0.0, 64.0));
    let f = finding(&v, "power_setback");
    assert_eq!(f.status, Outcome::Manual, "{}", f.message);
    assert_eq!(f.features[0].attributes["kv"], 20);
}

#[test]
fn river_setback_from_water_edge_and_levee() {
    // Water y 500..540, protection 12 m; the plot lies south of it.
    let v = review(square(0.0, 500.0 - 8.0 - 11.9, 64.0));
    assert_eq!(status(&v, "river_setback"), Outcome::Fail);
    let v = review(square(0.0, 500.0 - 8.0 - 12.1, 64.0));
    assert_eq!(status(&v, "river_setback"), Outcome::Pass);
    // North bank at 11.9 m from the water also fails; levee y = 600 is 40 m+ away.
    let v = review(square(0.0, 540.0 + 11.9, 64.0));
    let f = finding(&v, "river_setback");
    assert_eq!(f.status, Outcome::Fail);
    assert_eq!(f.features[0].layer, "rivers");
    // 29 m from the levee (protection 30 m), 52 m from the water.
    let v = review(square(0.0, 600.0 - 29.0 - 8.0, 64.0));
    let f = finding(&v, "river_setback");
    assert_eq!(f.status, Outcome::Fail, "{}", f.message);
    assert_eq!(f.features[0].layer, "levees");
    assert_eq!(f.threshold, Some(30.0));
}

#[test]
fn floors_and_floor_area() {
    let snap = world();
    let rules = homestead_rules(&snap);
    let mut req = input(clean());
    for (floors, area, want) in [
        (4, 499.0, Outcome::Pass),
        (5, 499.0, Outcome::Fail),
        (4, 500.0, Outcome::Fail),
        (3, 499.99, Outcome::Pass),
    ] {
        req.application.floors = floors;
        req.application.floor_area_m2 = area;
        let v = evaluate(&rules, &snap, &req);
        let f = finding(&v, "floors");
        assert_eq!(f.status, want, "{floors} floors, {area} m²: {}", f.message);
        assert_eq!(f.checks.len(), 2);
    }
    req.application.floors = 5;
    req.application.floor_area_m2 = 300.0;
    let v = evaluate(&rules, &snap, &req);
    let f = finding(&v, "floors");
    assert_eq!(
        (f.measured, f.threshold, f.unit),
        (Some(5.0), Some(4.0), "floors")
    );
}

fn household_review(hh: &str, replaces: Option<&str>) -> Finding {
    let snap = world();
    let rules = homestead_rules(&snap);
    let mut req = input(clean());
    req.applicant.household_id = hh.into();
    req.application.replaces_parcel = replaces.map(str::to_string);
    let v = evaluate(&rules, &snap, &req);
    finding(&v, "one_household").clone()
}

#[test]
fn one_household_one_homestead() {
    // H4 holds nothing.
    let f = household_review("H4", None);
    assert_eq!((f.status, f.measured), (Outcome::Pass, Some(0.0)));
    // H1 holds a registered parcel.
    let f = household_review("H1", None);
    assert_eq!(
        (f.status, f.measured),
        (Outcome::Fail, Some(1.0)),
        "{}",
        f.message
    );
    assert_eq!(f.features[0].attributes["zddm"], "440605001001JC00001");
    assert!(
        !f.features[0].attributes.contains_key("qlr"),
        "owner names are not copied"
    );
    assert_eq!(f.conflicts.len(), 1);
    // ... unless the application returns it (建新拆旧).
    let f = household_review("H1", Some("440605001001JC00001"));
    assert_eq!(f.status, Outcome::Pass, "{}", f.message);
    // Returning a parcel the household does not hold needs a person.
    let f = household_review("H1", Some("440605001001JC00002"));
    assert_eq!(f.status, Outcome::Fail);
    let f = household_review("H4", Some("440605001001JC00002"));
    assert_eq!(f.status, Outcome::Manual, "{}", f.message);
    // H2's parcel is approved: it counts too.
    assert_eq!(household_review("H2", None).status, Outcome::Fail);
    // H3 sold its house (its parcel is to_return, which does not count).
    let f = household_review("H3", None);
    assert_eq!(
        (f.status, f.measured),
        (Outcome::Fail, Some(0.0)),
        "{}",
        f.message
    );
    assert!(f.message.contains("sold"));
    // Unknown household: a person checks.
    assert_eq!(household_review("H9", None).status, Outcome::Manual);
}

#[test]
fn missing_layer_makes_rule_manual() {
    let mut layers = world_layers();
    let snap_full = snapshot_of(world_layers());
    let rules = homestead_rules(&snap_full);
    layers.retain(|l| !["farmland", "households", "levees"].contains(&l.def.id.as_str()));
    let snap = snapshot_of(layers);
    let v = evaluate(&rules, &snap, &input(clean()));
    for r in ["farmland", "one_household", "river_setback"] {
        let f = finding(&v, r);
        assert_eq!(f.status, Outcome::Manual, "{r}: {}", f.message);
    }
    assert_eq!(v.layers["farmland"], "missing");
    assert_eq!(v.outcome, Outcome::Manual);
    // A violation found in a present layer still fails.
    let v = evaluate(&rules, &snap, &input(square(0.0, 540.0 + 5.0, 64.0)));
    assert_eq!(status(&v, "river_setback"), Outcome::Fail);
}

#[test]
fn zoning_classes_worst_wins() {
    let cases = [
        (square(50.0, 50.0, 64.0), Outcome::Pass),
        (square(250.0, 50.0, 64.0), Outcome::Manual),
        (square(350.0, 50.0, 64.0), Outcome::Fail),
        // Straddles 限建 | 禁建: both reported, fail wins.
        (
            MultiPolygon::new(vec![rect(296.0, 50.0, 304.0, 58.0)]),
            Outcome::Fail,
        ),
        // Outside every zone.
        (square(500.0, 50.0, 64.0), Outcome::Manual),
    ];
    for (i, (plot, want)) in cases.into_iter().enumerate() {
        let v = review(plot);
        let f = finding(&v, "zoning");
        assert_eq!(f.status, want, "case {i}: {}", f.message);
        if i == 3 {
            let classes: Vec<_> = f
                .features
                .iter()
                .map(|r| r.attributes["zone_class"].clone())
                .collect();
            assert_eq!(classes, ["禁建", "限建"]);
            assert!((f.features[0].overlap_m2.unwrap_or(0.0) - 32.0).abs() < 1e-3);
            assert!((f.features[0].overlap_ratio.unwrap_or(0.0) - 0.5).abs() < 1e-4);
        }
    }
}

#[test]
fn heritage_protection_fails_control_belt_needs_review() {
    let v = review(square(-180.0, -130.0, 64.0));
    assert_eq!(status(&v, "heritage"), Outcome::Fail);
    let v = review(square(-130.0, -130.0, 64.0));
    let f = finding(&v, "heritage");
    assert_eq!(f.status, Outcome::Manual, "{}", f.message);
    assert_eq!(f.features[0].attributes["zone"], "control_belt");
    assert_eq!(v.outcome, Outcome::Manual);
}

#[test]
fn overlap_tolerance_farmland_and_hazard() {
    // Farmland x -200..-100: a plot reaching 0.05 m in (0.4 m²) passes,
    // 0.125 m in (1 m²) fails.
    let v = review(MultiPolygon::new(vec![rect(-100.05, 120.0, -92.05, 128.0)]));
    let f = finding(&v, "farmland");
    assert_eq!(f.status, Outcome::Pass, "{}", f.message);
    assert!((f.measured.unwrap_or(0.0) - 0.4).abs() < 1e-6);
    let v = review(MultiPolygon::new(vec![rect(
        -100.125, 120.0, -92.125, 128.0,
    )]));
    let f = finding(&v, "farmland");
    assert_eq!(f.status, Outcome::Fail);
    assert!((f.measured.unwrap_or(0.0) - 1.0).abs() < 1e-6);
    assert_eq!(f.conflicts.len(), 1);
    assert_eq!(
        status(&review(square(-380.0, 150.0, 64.0)), "eco_redline"),
        Outcome::Fail
    );
    assert_eq!(
        status(&review(square(120.0, -130.0, 64.0)), "hazard"),
        Outcome::Fail
    );
    assert_eq!(
        status(&review(square(120.0, -200.0, 64.0)), "hazard"),
        Outcome::Fail
    );
}

#[test]
fn village_boundary_within() {
    let v = review(MultiPolygon::new(vec![rect(-1004.0, 0.0, -996.0, 8.0)]));
    let f = finding(&v, "village_boundary");
    assert_eq!(f.status, Outcome::Fail);
    assert!(
        (f.measured.unwrap_or(0.0) - 32.0).abs() < 1e-6,
        "{:?}",
        f.measured
    );
    assert_eq!(f.features[0].attributes["doc_no"], "南府复〔2021〕1号");
    assert_eq!(f.conflicts.len(), 1);
}

#[test]
fn parcel_conflict_ignores_own_and_returned_parcels() {
    let snap = world();
    let rules = homestead_rules(&snap);
    // Overlaps H1's registered parcel (x 0..10, y 300..310) by 4 x 8 m.
    let plot = MultiPolygon::new(vec![rect(6.0, 301.0, 14.0, 309.0)]);
    let mut req = input(plot);
    let v = evaluate(&rules, &snap, &req);
    let f = finding(&v, "parcel_conflict");
    assert_eq!(f.status, Outcome::Fail, "{}", f.message);
    assert!((f.measured.unwrap_or(0.0) - 32.0).abs() < 1e-3);
    req.applicant.household_id = "H1".into();
    let v = evaluate(&rules, &snap, &req);
    assert_eq!(status(&v, "parcel_conflict"), Outcome::Pass);
    req.applicant.household_id = "H4".into();
    req.application.replaces_parcel = Some("440605001001JC00001".into());
    let v = evaluate(&rules, &snap, &req);
    assert_eq!(status(&v, "parcel_conflict"), Outcome::Pass);
    // H3's parcel is to_return, but still occupied: a conflict too.
    req.application.replaces_parcel = None;
    req.plot = MultiPolygon::new(vec![rect(44.0, 301.0, 52.0, 309.0)]);
    let v = evaluate(&rules, &snap, &req);
    assert_eq!(status(&v, "parcel_conflict"), Outcome::Fail);
}

#[test]
fn outcome_combination() {
    use Outcome::*;
    assert_eq!(Outcome::combine([]), Pass);
    assert_eq!(Outcome::combine([Pass, Pass]), Pass);
    assert_eq!(Outcome::combine([Pass, Manual]), Manual);
    assert_eq!(Outcome::combine([Manual, Fail, Pass]), Fail);
    // Manual (restricted zone) alone, then with a failing area cap.
    let v = review(square(250.0, 50.0, 64.0));
    assert_eq!(v.outcome, Manual);
    let v = review(square(250.0, 10.0, 85.0));
    assert_eq!(
        (status(&v, "zoning"), status(&v, "area_cap"), v.outcome),
        (Manual, Fail, Fail)
    );
}

#[test]
fn unmeasurable_plot_is_manual_not_an_error() {
    let v = review(MultiPolygon::new(vec![]));
    assert_eq!(v.outcome, Outcome::Manual);
    assert_eq!(status(&v, "area_cap"), Outcome::Manual);
    assert_eq!(status(&v, "farmland"), Outcome::Manual);
    assert_eq!(v.findings.len(), 13);
}

#[test]
fn verdict_serializes_with_geojson_conflicts() {
    let v = review(square(350.0, 50.0, 85.0));
    let j = serde_json::to_value(&v).expect("serializes");
    assert_eq!(j["outcome"], "fail");
    assert_eq!(j["crs"], "EPSG:4547");
    let zoning = &j["findings"][6];
    assert_eq!(zoning["rule"], "zoning");
    assert_eq!(zoning["conflicts"][0]["type"], "MultiPolygon");
    assert_eq!(zoning["features"][0]["attributes"]["zone_class"], "禁建");
    assert!(zoning["basis"].as_str().is_some_and(|b| !b.is_empty()));
}

#[test]
fn a_new_layer_version_gets_a_new_index() {
    let snap = world();
    let rules = homestead_rules(&snap);
    let mut req = input(clean());
    req.applicant.household_id = "H1".into();
    assert_eq!(
        status(&evaluate(&rules, &snap, &req), "one_household"),
        Outcome::Fail
    );
    // The same ids, but H1's parcel is gone in the new version.
    let mut layers = world_layers();
    let parcels = layers
        .iter_mut()
        .find(|l| l.def.id == "homestead_parcels")
        .expect("layer");
    let def = parcels.def.clone();
    let fields = parcels.fields.clone();
    let feats: Vec<_> = parcels
        .features
        .iter()
        .skip(1)
        .map(|f| crate::layer::NewFeature::from_stored(parcels, f))
        .collect();
    *parcels = crate::layer::Layer::build(
        def,
        2,
        "v2".into(),
        crate::layer::GeomKind::Polygon,
        fields,
        feats,
        vec![],
    )
    .expect("attributes fit");
    let snap2 = snapshot_of(layers);
    assert_eq!(
        status(&evaluate(&rules, &snap2, &req), "one_household"),
        Outcome::Pass
    );
    assert_eq!(
        status(&evaluate(&rules, &snap, &req), "one_household"),
        Outcome::Fail
    );
}

#[test]
fn area_rule_on_a_line_layer_needs_a_person() {
    let full = world();
    let rules = homestead_rules(&full);
    // A misconfigured farmland layer holding lines.
    let mut layers = world_layers();
    layers.retain(|l| l.def.id != "farmland");
    layers.push(layer(
        "farmland",
        &["id", "version", "doc_no"],
        vec![(
            geo::Geometry::LineString(line(&[(0.0, 0.0), (100.0, 0.0)])),
            vec![],
        )],
    ));
    let v = evaluate(&rules, &snapshot_of(layers), &input(clean()));
    let f = finding(&v, "farmland");
    assert_eq!(f.status, Outcome::Manual, "{}", f.message);
    assert!(f.message.contains("not polygons"), "{}", f.message);
}
