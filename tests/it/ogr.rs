//! Uploads read through GDAL (cargo feature `gdal`): a KML published
//! through the real server and served at once, a GML as a new version, a
//! DXF without a CRS refused until one is given, and content GDAL does not
//! know either answered `415`.
#![cfg(feature = "gdal")]

use serde_json::Value;
use tudi::auth::Role;
use tudi::http::ServerConfig;

use super::support::{Server, decode, get, get_as, key, repo, start, tile_of};

/// Every village's approval number starts so (`南府复〔2021〕101号`...).
const DOC_PREFIX: &str = "南府复〔2021〕";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("fixtures/uploads").join(name)).expect("fixture")
}

async fn post(s: &Server, path: &str, body: Vec<u8>, content_type: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", s.base))
        .header("content-type", content_type)
        .bearer_auth(key(Role::Publisher))
        .body(body)
        .send()
        .await
        .expect("post");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn kml_gml_and_dxf_publish_through_gdal() {
    // The server needs one configured layer to start.
    let dir = tempfile::tempdir().expect("tmp");
    let square = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"n":1},"geometry":{"type":"Polygon","coordinates":[[[113.1,23.0],[113.11,23.0],[113.11,23.01],[113.1,23.01],[113.1,23.0]]]}}]}"#;
    std::fs::write(dir.path().join("squares.geojson"), square).expect("write");
    std::fs::write(
        dir.path().join("squares.toml"),
        "id = \"squares\"\ntitle = \"Squares\"\ncategory = \"test\"\nsource = \"squares.geojson\"\ncrs = \"EPSG:4326\"\n",
    )
    .expect("write");
    let s = start(dir.path(), ServerConfig::default());

    // KML, declared by its MIME type; WGS 84 from the file.
    let (st, v) = post(
        &s,
        "/api/layers?id=villages_kml&title=%E6%9D%91%E7%95%8C&category=test",
        fixture("village.kml"),
        "application/vnd.google-earth.kml+xml",
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let report = &v["report"];
    assert_eq!(report["format"], "ogr");
    assert_eq!(report["crs"], "EPSG:4326");
    assert_eq!(report["feature_count"], 15);
    assert_eq!(report["rejected"], 0);
    let schema: Vec<&str> = report["schema"]
        .as_array()
        .expect("schema")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(schema.contains(&"doc_no"), "{schema:?}");
    assert!(!schema.contains(&"tessellate"), "{schema:?}");

    // Served at once, in Nanhai, with the Chinese attribute intact.
    let tj: Value = get(&format!("{}/tiles/villages_kml", s.base))
        .await
        .json()
        .await
        .expect("tilejson");
    let b = &tj["bounds"];
    let (lon, lat) = (
        (b[0].as_f64().expect("w") + b[2].as_f64().expect("e")) / 2.0,
        (b[1].as_f64().expect("s") + b[3].as_f64().expect("n")) / 2.0,
    );
    assert!(
        (112.8..113.1).contains(&lon) && (22.8..23.1).contains(&lat),
        "{b}"
    );
    let (z, x, y) = tile_of(lon, lat, 12);
    let r = get_as(
        &format!("{}/tiles/villages_kml/{z}/{x}/{y}", s.base),
        Role::Admin,
    )
    .await;
    assert_eq!(r.status(), 200);
    let tile = decode(&r.bytes().await.expect("tile"));
    let docs: Vec<String> = tile
        .get_features(0)
        .expect("features")
        .iter()
        .filter_map(|f| match f.properties.as_ref()?.get("doc_no")? {
            mvt_reader::feature::Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    assert!(!docs.is_empty(), "no village in the tile");
    assert!(docs.iter().all(|d| d.starts_with(DOC_PREFIX)), "{docs:?}");

    // GML in EPSG:4547 as a new version, declared with ?format=.
    let (st, v) = post(
        &s,
        "/api/layers/villages_kml/versions?format=gml",
        fixture("village_4547.gml"),
        "application/octet-stream",
    )
    .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["report"]["crs"], "EPSG:4547");
    assert_eq!(v["report"]["change"]["previous_feature_count"], 15);

    // DXF has no CRS: 422 naming the problem, then accepted with an override.
    let (st, v) = post(
        &s,
        "/api/layers/villages_kml/versions?format=dxf",
        fixture("village_gbk.dxf"),
        "application/octet-stream",
    )
    .await;
    assert_eq!(st, 422, "{v}");
    assert!(
        v["message"].as_str().unwrap_or_default().contains("CRS"),
        "{v}"
    );
    let (st, v) = post(
        &s,
        "/api/layers/villages_kml/versions?format=dxf&crs=EPSG:4326&dry_run=true",
        fixture("village_gbk.dxf"),
        "application/octet-stream",
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["report"]["feature_count"], 15);

    // Content GDAL cannot open either.
    let (st, v) = post(
        &s,
        "/api/layers?id=junk&title=junk&category=test",
        b"\x00\x01 not geodata".to_vec(),
        "application/octet-stream",
    )
    .await;
    assert_eq!(st, 415, "{v}");
    let leftover: Vec<_> = std::fs::read_dir(s.data.join("tmp"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(leftover.is_empty(), "uploads left behind: {leftover:?}");
}
