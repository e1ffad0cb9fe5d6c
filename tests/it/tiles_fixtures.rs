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

use super::support::{decode, fixtures_server, get, get_as, repo, tile_of};

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
