//! Tiles of the bundled fixtures checked against the source files, read
//! independently (serde_json for GeoJSON, the flatgeobuf crate for FGB) and
//! decoded with `mvt-reader`: feature sets, attributes, geometry bounds,
//! validity and winding after simplification, size budget at every zoom.

use std::collections::{BTreeMap, BTreeSet};

use geo::algorithm::Validation;
use geo::{
    Area, BoundingRect, Centroid, Coord, CoordsIter, Geometry, Intersects, MapCoords, Polygon, Rect,
};
use geozero::ToGeo;
use serde_json::Value;

use super::support::{decode, fixtures_server, get, get_as, repo, tile_of, vector_layer_ids};

/// Tile bounds in lon/lat, grown by `margin` tile fractions on each side.
fn tile_bounds(z: u8, x: u32, y: u32, margin: f64) -> Rect {
    let n = 2f64.powi(z as i32);
    let lon = |x: f64| x / n * 360.0 - 180.0;
    let lat = |y: f64| {
        (std::f64::consts::PI * (1.0 - 2.0 * y / n))
            .sinh()
            .atan()
            .to_degrees()
    };
    let (x, y) = (x as f64, y as f64);
    Rect::new(
        Coord {
            x: lon(x - margin),
            y: lat(y + 1.0 + margin),
        },
        Coord {
            x: lon(x + 1.0 + margin),
            y: lat(y - margin),
        },
    )
}

fn geojson_features(file: &str) -> Vec<(u64, Geometry, serde_json::Map<String, Value>)> {
    let text = std::fs::read_to_string(repo().join(file)).expect("fixture file");
    let v: Value = serde_json::from_str(&text).expect("geojson");
    v["features"]
        .as_array()
        .expect("features")
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let g = geozero::geojson::GeoJson(&f["geometry"].to_string())
                .to_geo()
                .expect("geometry");
            let props = f["properties"].as_object().cloned().unwrap_or_default();
            (i as u64 + 1, g, props)
        })
        .collect()
}

fn mvt_value_json(v: &mvt_reader::feature::Value) -> Value {
    use mvt_reader::feature::Value as V;
    match v {
        V::String(s) => Value::from(s.clone()),
        V::Float(f) => Value::from(*f as f64),
        V::Double(f) => Value::from(*f),
        V::Int(i) | V::SInt(i) => Value::from(*i),
        V::UInt(u) => Value::from(*u),
        V::Bool(b) => Value::from(*b),
        V::Null => Value::Null,
    }
}

fn check_geometry(g: &Geometry<f32>, z: u8, id: Option<u64>) {
    let g: Geometry<f64> = g.map_coords(|c| Coord {
        x: c.x as f64,
        y: c.y as f64,
    });
    for c in g.coords_iter() {
        assert!(
            (-64.0..=4160.0).contains(&c.x) && (-64.0..=4160.0).contains(&c.y),
            "z{z} feature {id:?}: coordinate {c:?} outside tile + buffer"
        );
    }
    if matches!(g, Geometry::Polygon(_) | Geometry::MultiPolygon(_)) {
        assert!(
            g.is_valid(),
            "z{z} feature {id:?}: invalid polygon {:?}",
            g.validation_errors()
        );
        assert!(g.unsigned_area() > 0.0, "z{z} feature {id:?}: zero area");
    }
}

/// A z15 tile of the zoning layer (EPSG:4490 GeoJSON): the decoded ids are
/// exactly the source features that touch the tile (give or take the
/// buffer), with the same attributes.
#[tokio::test]
async fn zoning_tile_matches_source() {
    let s = fixtures_server();
    let feats = geojson_features("fixtures/small/zoning.geojson");
    assert!(!feats.is_empty());
    let c = feats[feats.len() / 2].1.centroid().expect("centroid");
    let (z, x, y) = tile_of(c.x(), c.y(), 15);
    let r = get(&format!("{}/tiles/zoning/{z}/{x}/{y}.pbf", s.base)).await;
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.expect("body");
    let reader = decode(&bytes);
    assert_eq!(
        reader.get_layer_names().expect("names"),
        vec!["zoning".to_string()]
    );
    let decoded = reader.get_features(0).expect("features");
    let ids: BTreeSet<u64> = decoded.iter().filter_map(|f| f.id).collect();
    assert_eq!(ids.len(), decoded.len(), "every feature has a distinct id");
    let inner = Polygon::from(tile_bounds(z, x, y, -0.001));
    let outer = Polygon::from(tile_bounds(z, x, y, 64.0 / 4096.0 + 0.001));
    let must: BTreeSet<u64> = feats
        .iter()
        .filter(|(_, g, _)| g.intersects(&inner))
        .map(|(i, _, _)| *i)
        .collect();
    let may: BTreeSet<u64> = feats
        .iter()
        .filter(|(_, g, _)| g.intersects(&outer))
        .map(|(i, _, _)| *i)
        .collect();
    assert!(
        must.is_subset(&ids),
        "missing: {:?}",
        must.difference(&ids).collect::<Vec<_>>()
    );
    assert!(
        ids.is_subset(&may),
        "extra: {:?}",
        ids.difference(&may).collect::<Vec<_>>()
    );
    let by_id: BTreeMap<u64, &serde_json::Map<String, Value>> =
        feats.iter().map(|(i, _, p)| (*i, p)).collect();
    for f in &decoded {
        let id = f.id.expect("id");
        let src = by_id[&id];
        let props = f.properties.as_ref().expect("properties");
        for (k, v) in props {
            let want = &src[k];
            let got = mvt_value_json(v);
            match (want.as_f64(), got.as_f64()) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9, "{id}.{k}: {a} vs {b}"),
                _ => assert_eq!(&got, want, "feature {id} attribute {k}"),
            }
        }
        check_geometry(&f.geometry, z, f.id);
    }
}

/// Every layer at every zoom over the fixtures' centre: 200 or 204, never
/// over 500 KB, every geometry inside the buffer and valid.
#[tokio::test]
async fn all_layers_all_zooms_valid_and_small() {
    let s = fixtures_server();
    let cat: Value = get(&format!("{}/catalog", s.base))
        .await
        .json()
        .await
        .expect("catalog");
    let services = cat["services"].as_array().expect("services");
    assert!(services.len() >= 15, "{} services", services.len());
    let parcels = geojson_features("fixtures/small/households.geojson");
    let c = parcels[0].1.centroid().expect("centroid");
    for svc in services {
        let id = svc["id"].as_str().expect("id");
        for z in 0..=20u8 {
            let (z, x, y) = tile_of(c.x(), c.y(), z);
            let r = get(&format!("{}/tiles/{id}/{z}/{x}/{y}", s.base)).await;
            let status = r.status().as_u16();
            assert!(status == 200 || status == 204, "{id} {z}/{x}/{y}: {status}");
            if status == 204 {
                continue;
            }
            let bytes = r.bytes().await.expect("body");
            assert!(
                bytes.len() <= 500_000,
                "{id} {z}/{x}/{y}: {} bytes",
                bytes.len()
            );
            let reader = decode(&bytes);
            for f in reader.get_features(0).expect("features") {
                check_geometry(&f.geometry, z, f.id);
            }
        }
    }
}

/// The parcels (FlatGeobuf in EPSG:4547) land where the source says: the
/// tile containing a parcel's centroid at z17 holds that parcel's id with
/// its `zddm`.
#[tokio::test]
async fn gauss_kruger_parcels_land_in_the_right_tile() {
    use flatgeobuf::{FallibleStreamingIterator, FeatureProperties, FgbReader};
    let s = fixtures_server();
    let file =
        std::fs::File::open(repo().join("fixtures/small/homestead_parcels.fgb")).expect("fgb");
    let mut reader = FgbReader::open(std::io::BufReader::new(file))
        .expect("open")
        .select_all_seq()
        .expect("select");
    let mut picked = Vec::new();
    let mut row = 0u64;
    while let Some(f) = reader.next().expect("feature") {
        row += 1;
        if row % 997 == 1 {
            let g = f.to_geo().expect("geometry");
            let zddm: String = f.property("zddm").expect("zddm");
            let c = g.bounding_rect().expect("bbox").center();
            picked.push((row, zddm, c));
        }
    }
    assert!(picked.len() >= 3);
    for (id, zddm, c) in picked {
        let (lon, lat) = tudi::crs::gk_to_lonlat(c.x, c.y, 114.0);
        let (z, x, y) = tile_of(lon, lat, 17);
        let r = get_as(
            &format!("{}/tiles/homestead_parcels/{z}/{x}/{y}", s.base),
            tudi::auth::Role::Approver,
        )
        .await;
        assert_eq!(r.status(), 200, "parcel {id} at {lon},{lat}");
        let bytes = r.bytes().await.expect("body");
        let feats = decode(&bytes).get_features(0).expect("features");
        let f = feats
            .iter()
            .find(|f| f.id == Some(id))
            .unwrap_or_else(|| panic!("parcel {id} not in its tile"));
        let props = f.properties.as_ref().expect("props");
        assert_eq!(
            props.get("zddm"),
            Some(&mvt_reader::feature::Value::String(zddm))
        );
        check_geometry(&f.geometry, z, f.id);
    }
}

/// Villages are labelled from their `villages.label` layer (TileJSON lists
/// it): over all the tiles a village spans at z12-z14, its label point is
/// in exactly one tile per zoom, inside the village, with its attributes.
#[tokio::test]
async fn every_village_is_labelled_once_per_zoom_inside_it() {
    use geo::Contains;
    let s = fixtures_server();
    let ids = vector_layer_ids(&format!("{}/tiles/villages", s.base)).await;
    assert_eq!(ids, vec!["villages", "villages.label"]);
    let villages = geojson_features("fixtures/small/villages.geojson");
    assert!(villages.len() >= 5);
    for z in 12..=14u8 {
        // zldwdm -> (label count, points in lon/lat).
        let mut seen: BTreeMap<String, Vec<Coord>> = BTreeMap::new();
        let mut spanning = 0;
        let all = villages
            .iter()
            .map(|(_, g, _)| g.bounding_rect().expect("bounds"))
            .reduce(|a, b| {
                Rect::new(
                    Coord {
                        x: a.min().x.min(b.min().x),
                        y: a.min().y.min(b.min().y),
                    },
                    Coord {
                        x: a.max().x.max(b.max().x),
                        y: a.max().y.max(b.max().y),
                    },
                )
            })
            .expect("villages");
        let (_, x0, y0) = tile_of(all.min().x, all.max().y, z);
        let (_, x1, y1) = tile_of(all.max().x, all.min().y, z);
        for x in x0..=x1 {
            for y in y0..=y1 {
                let r = get(&format!("{}/tiles/villages/{z}/{x}/{y}.pbf", s.base)).await;
                if r.status() == 204 {
                    continue;
                }
                assert_eq!(r.status(), 200);
                let reader = decode(&r.bytes().await.expect("body"));
                let names = reader.get_layer_names().expect("names");
                let Some(i) = names.iter().position(|n| n == "villages.label") else {
                    continue;
                };
                let b = tile_bounds(z, x, y, 0.0);
                for f in reader.get_features(i).expect("features") {
                    // mvt-reader reads a point as a multi-point of one.
                    let p = match &f.geometry {
                        Geometry::Point(p) => *p,
                        Geometry::MultiPoint(m) if m.0.len() == 1 => m.0[0],
                        g => panic!("z{z} {x}/{y}: a label that is not one point: {g:?}"),
                    };
                    let props = f.properties.expect("attributes");
                    let code = match &props["zldwdm"] {
                        mvt_reader::feature::Value::String(s) => s.clone(),
                        v => panic!("zldwdm {v:?}"),
                    };
                    // Tile units (y down) -> lon/lat (linear in the tile is
                    // close enough for a point well inside a village).
                    let lon = b.min().x + f64::from(p.x()) / 4096.0 * b.width();
                    let lat = b.max().y - f64::from(p.y()) / 4096.0 * b.height();
                    seen.entry(code).or_default().push(Coord { x: lon, y: lat });
                }
            }
        }
        for (_, g, props) in &villages {
            let code = props["zldwdm"].as_str().expect("zldwdm");
            let bounds = g.bounding_rect().expect("bounds");
            let (t0, t1) = (
                tile_of(bounds.min().x, bounds.max().y, z),
                tile_of(bounds.max().x, bounds.min().y, z),
            );
            if t0 != t1 {
                spanning += 1;
            }
            let points = seen.get(code).map(Vec::as_slice).unwrap_or_default();
            assert_eq!(
                points.len(),
                1,
                "z{z} village {code}: {} labels",
                points.len()
            );
            assert!(
                g.contains(&points[0]),
                "z{z} village {code}: label {:?} outside",
                points[0]
            );
        }
        assert!(
            spanning > 0,
            "z{z}: no village spans several tiles: the test proves nothing"
        );
    }
}
