//! Publishing through the real server: every upload format (GBK shapefile
//! included), dry runs, the validation report, new versions swapped in
//! under concurrent tile requests, rollback, delete, persistence across a
//! restart, and bad uploads answered 4xx naming the problem.

use std::collections::BTreeSet;
use std::io::Write;

use serde_json::Value;
use tudi::auth::Role;
use tudi::http::ServerConfig;

use super::support::{Server, decode, get, get_as, key, repo, start, tile_of, vector_layer_ids};

/// A server over one small public layer (`squares`), with its own data folder.
fn server(config: ServerConfig) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let square = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"n":1},"geometry":{"type":"Polygon","coordinates":[[[113.1,23.0],[113.11,23.0],[113.11,23.01],[113.1,23.01],[113.1,23.0]]]}}]}"#;
    std::fs::write(dir.path().join("squares.geojson"), square).expect("write");
    std::fs::write(
        dir.path().join("squares.toml"),
        "id = \"squares\"\ntitle = \"Squares\"\ncategory = \"test\"\nsource = \"squares.geojson\"\ncrs = \"EPSG:4326\"\nattributes = [\"n\"]\n",
    )
    .expect("write");
    (start(dir.path(), config), dir)
}

fn upload_fixture(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("fixtures/uploads").join(name)).expect("fixture")
}

async fn post(
    s: &Server,
    path: &str,
    body: Vec<u8>,
    content_type: &str,
    role: Option<Role>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", s.base))
        .header("content-type", content_type)
        .body(body);
    if let Some(r) = role {
        req = req.bearer_auth(key(r));
    }
    let resp = req.send().await.expect("post");
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    (status, v)
}

const CREATE: &str = "/api/layers?id=villages_up&title=%E6%9D%91%E5%BA%84&category=test";

/// Strings of a field in every feature of the tile at (lon, lat).
async fn tile_values(s: &Server, layer: &str, field: &str, lon: f64, lat: f64) -> Vec<String> {
    let (z, x, y) = tile_of(lon, lat, 12);
    let r = get_as(
        &format!("{}/tiles/{layer}/{z}/{x}/{y}", s.base),
        Role::Admin,
    )
    .await;
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.expect("body");
    let reader = decode(&bytes);
    let feats = reader.get_features(0).expect("features");
    feats
        .iter()
        .filter_map(|f| {
            f.properties.as_ref()?.get(field).map(|v| match v {
                mvt_reader::feature::Value::String(s) => s.clone(),
                other => format!("{other:?}"),
            })
        })
        .collect()
}

#[tokio::test]
async fn every_format_publishes_and_is_served_at_once() {
    let (s, _dir) = server(ServerConfig::default());
    // Zipped shapefile, EPSG:4547 from its .prj, GBK attributes.
    let (st, v) = post(
        &s,
        CREATE,
        upload_fixture("village_4547_gbk.zip"),
        "application/zip",
        Some(Role::Publisher),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["report"]["crs"], "EPSG:4547");
    assert_eq!(v["report"]["crs_source"], "prj");
    assert_eq!(v["report"]["encoding"], "GBK");
    assert_eq!(v["report"]["feature_count"], 15);
    assert_eq!(v["version"]["version"], 1);
    let names: Vec<&str> = v["report"]["schema"]
        .as_array()
        .expect("schema")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(names.contains(&"批准文号"), "{names:?}");
    // Served at once, in the right place, with correct UTF-8 values.
    let tj: Value = get(&format!("{}/tiles/villages_up", s.base))
        .await
        .json()
        .await
        .expect("tilejson");
    assert!(
        tj["tiles"][0]
            .as_str()
            .expect("url")
            .ends_with(&format!("?v={}", v["version_tag"].as_str().expect("tag")))
    );
    let b = &tj["bounds"];
    let (lon, lat) = (
        (b[0].as_f64().expect("w") + b[2].as_f64().expect("e")) / 2.0,
        (b[1].as_f64().expect("s") + b[3].as_f64().expect("n")) / 2.0,
    );
    assert!(
        (112.8..113.1).contains(&lon) && (22.8..23.1).contains(&lat),
        "{b}"
    );
    let docs = tile_values(&s, "villages_up", "批准文号", lon, lat).await;
    assert!(!docs.is_empty());
    assert!(
        docs.iter().all(|d| !d.contains('\u{fffd}')),
        "mojibake: {docs:?}"
    );

    // New versions from the three other formats.
    for (file, ct, crs) in [
        ("village.geojson", "application/geo+json", "EPSG:4326"),
        ("village.fgb", "application/octet-stream", "EPSG:4326"),
        (
            "village_4547.gpkg",
            "application/geopackage+sqlite3",
            "EPSG:4547",
        ),
    ] {
        let (st, v) = post(
            &s,
            "/api/layers/villages_up/versions",
            upload_fixture(file),
            ct,
            Some(Role::Publisher),
        )
        .await;
        assert_eq!(st, 201, "{file}: {v}");
        assert_eq!(v["report"]["crs"], crs, "{file}");
        assert_eq!(v["report"]["feature_count"], 15, "{file}");
        assert_eq!(
            v["report"]["change"]["previous_feature_count"], 15,
            "{file}"
        );
        let tj: Value = get(&format!("{}/tiles/villages_up", s.base))
            .await
            .json()
            .await
            .expect("tilejson");
        assert_eq!(tj["version"], v["version_tag"], "{file}");
    }
    let versions: Value = get_as(
        &format!("{}/api/layers/villages_up/versions", s.base),
        Role::Publisher,
    )
    .await
    .json()
    .await
    .expect("versions");
    assert_eq!(versions["versions"].as_array().expect("list").len(), 4);
    assert_eq!(versions["current"], 4);
    // The stored version files are FlatGeobuf in the data folder.
    let files: Vec<_> = std::fs::read_dir(s.data.join("layers/villages_up"))
        .expect("version folder")
        .flatten()
        .collect();
    assert_eq!(files.len(), 4);
    for f in files {
        let bytes = std::fs::read(f.path()).expect("read");
        assert_eq!(&bytes[..3], b"fgb", "{:?}", f.path());
    }
    // /health counts the layer created since start-up.
    let h: Value = get_as(&format!("{}/health", s.base), Role::Admin)
        .await
        .json()
        .await
        .expect("health");
    assert_eq!(h["layers_total"], 2, "{h}");
    assert_eq!(h["layers_loaded"], 2, "{h}");
}

#[tokio::test]
async fn schema_changes_are_reported_and_dry_run_publishes_nothing() {
    let (s, _dir) = server(ServerConfig::default());
    let (st, _) = post(
        &s,
        CREATE,
        upload_fixture("village_4547.gpkg"),
        "application/octet-stream",
        Some(Role::Publisher),
    )
    .await;
    assert_eq!(st, 201);
    let (st, v) = post(
        &s,
        "/api/layers/villages_up/versions?dry_run=true",
        upload_fixture("village.geojson"),
        "application/geo+json",
        Some(Role::Publisher),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["dry_run"], true);
    let change = &v["report"]["change"]["schema"];
    assert_eq!(change["added"][0]["name"], "doc_no", "{change}");
    assert_eq!(change["removed"][0]["name"], "批准文号", "{change}");
    assert_eq!(change["retyped"][0][0], "version", "{change}");
    let versions: Value = get_as(
        &format!("{}/api/layers/villages_up/versions", s.base),
        Role::Publisher,
    )
    .await
    .json()
    .await
    .expect("versions");
    assert_eq!(versions["versions"].as_array().expect("list").len(), 1);
}

/// A GeoJSON square at (lon, lat) whose every feature has `v = tag`.
fn squares(tag: u32, n: usize) -> Vec<u8> {
    let mut feats = Vec::new();
    for i in 0..n {
        let x = 113.10 + (i % 30) as f64 * 0.001;
        let y = 23.00 + (i / 30) as f64 * 0.001;
        feats.push(format!(
            r#"{{"type":"Feature","properties":{{"v":{tag}}},"geometry":{{"type":"Polygon","coordinates":[[[{x},{y}],[{x2},{y}],[{x2},{y2}],[{x},{y2}],[{x},{y}]]]}}}}"#,
            x2 = x + 0.0008,
            y2 = y + 0.0008
        ));
    }
    format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        feats.join(",")
    )
    .into_bytes()
}

#[tokio::test]
async fn versions_swap_atomically_under_concurrent_tile_requests() {
    // Four readers loop as fast as they can: past the default rate limit
    // on a fast machine (429), which is not what this test is about.
    let (s, _dir) = server(ServerConfig {
        rate_per_s: 0.0,
        ..ServerConfig::default()
    });
    let (st, v) = post(
        &s,
        "/api/layers?id=swap&title=swap&category=test",
        squares(1, 600),
        "application/geo+json",
        Some(Role::Publisher),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let base = s.base.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (base, stop) = (base.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut seen = std::collections::BTreeSet::new();
            let (z, x, y) = tile_of(113.11, 23.005, 14);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = client
                    .get(format!("{base}/tiles/swap/{z}/{x}/{y}"))
                    .send()
                    .await
                    .expect("tile");
                assert_eq!(r.status(), 200);
                let bytes = r.bytes().await.expect("body");
                let reader = mvt_reader::Reader::new(bytes.to_vec()).expect("valid MVT");
                let feats = reader.get_features(0).expect("features");
                let tags: std::collections::BTreeSet<String> = feats
                    .iter()
                    .filter_map(|f| f.properties.as_ref()?.get("v").map(|v| format!("{v:?}")))
                    .collect();
                assert_eq!(tags.len(), 1, "a tile mixes versions: {tags:?}");
                seen.extend(tags);
            }
            seen
        }));
    }
    for tag in 2..=6 {
        let (st, v) = post(
            &s,
            "/api/layers/swap/versions",
            squares(tag, 600),
            "application/geo+json",
            Some(Role::Publisher),
        )
        .await;
        assert_eq!(st, 201, "{v}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Rollback: the previous version is served again.
    let r = reqwest::Client::new()
        .post(format!("{}/api/layers/swap/rollback", s.base))
        .bearer_auth(key(Role::Publisher))
        .send()
        .await
        .expect("rollback");
    assert_eq!(r.status(), 200);
    let rb: Value = r.json().await.expect("json");
    assert_eq!(rb["current"], 5);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut all = std::collections::BTreeSet::new();
    for r in readers {
        all.extend(r.await.expect("reader"));
    }
    assert!(all.len() >= 2, "readers saw only {all:?}");
    let now = tile_values(&s, "swap", "v", 113.11, 23.005).await;
    assert!(now.iter().all(|v| v.contains('5')), "{now:?}");
    // Explicit rollback to version 1, then delete.
    let r = reqwest::Client::new()
        .post(format!("{}/api/layers/swap/rollback", s.base))
        .bearer_auth(key(Role::Publisher))
        .body(r#"{"version": 1}"#)
        .send()
        .await
        .expect("rollback");
    assert_eq!(r.status(), 200);
    let now = tile_values(&s, "swap", "v", 113.11, 23.005).await;
    assert!(now.iter().all(|v| v.contains('1')), "{now:?}");
    let r = reqwest::Client::new()
        .delete(format!("{}/api/layers/swap", s.base))
        .bearer_auth(key(Role::Publisher))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 200);
    assert_eq!(get(&format!("{}/tiles/swap", s.base)).await.status(), 404);
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in entries {
            z.start_file(*name, opts).expect("entry");
            z.write_all(bytes).expect("write");
        }
        z.finish().expect("finish");
    }
    buf.into_inner()
}

#[tokio::test]
async fn bad_uploads_get_a_4xx_naming_the_problem() {
    let config = ServerConfig {
        max_upload_bytes: 2 * 1024 * 1024,
        ..ServerConfig::default()
    };
    let (s, _dir) = server(config);
    let pubr = Some(Role::Publisher);
    let gj = "application/geo+json";
    let cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
        ("over the cap", vec![b' '; 3 * 1024 * 1024], gj, 413, "limit"),
        (
            "zip bomb",
            zip_of(&[
                ("a.shp", &vec![0u8; 64 * 1024 * 1024][..]),
                ("a.shx", b"x"),
                ("a.dbf", b"x"),
            ]),
            "application/zip",
            413,
            "",
        ),
        (
            "zip slip",
            zip_of(&[("../../etc/x.shp", b"x")]),
            "application/zip",
            422,
            "..",
        ),
        (
            "nested zip",
            zip_of(&[("inner.zip", &zip_of(&[("a.shp", b"x")])[..])]),
            "application/zip",
            422,
            "",
        ),
        (
            "missing .dbf",
            zip_of(&[("a.shp", b"x"), ("a.shx", b"x")]),
            "application/zip",
            422,
            "dbf",
        ),
        (
            "declared GeoPackage, is GeoJSON",
            br#"{"type":"FeatureCollection","features":[]}"#.to_vec(),
            "application/geopackage+sqlite3",
            422,
            "GeoPackage",
        ),
        (
            "truncated FlatGeobuf",
            upload_fixture("village.fgb")[..700].to_vec(),
            "application/octet-stream",
            422,
            "FlatGeobuf",
        ),
        (
            "truncated GeoPackage",
            upload_fixture("village_4547.gpkg")[..4096].to_vec(),
            "application/octet-stream",
            422,
            "GeoPackage",
        ),
        (
            "out-of-range coordinates",
            br#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[500.0,23.0]}}]}"#.to_vec(),
            gj,
            422,
            "",
        ),
        (
            "JSON nested too deep",
            format!(
                r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"a":{}1{}}},"geometry":null}}]}}"#,
                "[".repeat(5000),
                "]".repeat(5000)
            )
            .into_bytes(),
            gj,
            422,
            "",
        ),
        ("not a geodata file", b"hello world".to_vec(), "text/plain", 415, ""),
        (
            "an attribute named like the stored feature-id column",
            br#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"tudi_fid":7},"geometry":{"type":"Point","coordinates":[113.1,23.0]}}]}"#.to_vec(),
            gj,
            422,
            "tudi_fid",
        ),
    ];
    for (name, body, ct, want, needle) in cases {
        let (st, v) = post(
            &s,
            "/api/layers?id=bad&title=bad&category=test",
            body,
            ct,
            pubr,
        )
        .await;
        assert_eq!(st, want, "{name}: {v}");
        let msg = v["message"].as_str().unwrap_or_default();
        assert!(!msg.is_empty(), "{name}: no message");
        assert!(
            msg.contains(needle),
            "{name}: `{msg}` does not name `{needle}`"
        );
    }
    // Unknown CRS override.
    let (st, v) = post(
        &s,
        "/api/layers?id=bad&title=bad&category=test&crs=EPSG:3857",
        upload_fixture("village.geojson"),
        gj,
        pubr,
    )
    .await;
    assert_eq!(st, 422, "{v}");
    assert!(
        v["message"].as_str().unwrap_or_default().contains("3857"),
        "{v}"
    );
    // Nothing was published by any of them.
    assert_eq!(get(&format!("{}/tiles/bad", s.base)).await.status(), 404);
    let leftover: Vec<_> = std::fs::read_dir(s.data.join("tmp"))
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(leftover.is_empty(), "uploads left behind: {leftover:?}");
}

#[tokio::test]
async fn a_write_error_publishes_nothing() {
    let (s, _dir) = server(ServerConfig::default());
    // The layer's version folder cannot be created: a file is in the way.
    std::fs::create_dir_all(s.data.join("layers")).expect("mkdir");
    std::fs::write(s.data.join("layers/blocked"), b"not a folder").expect("write");
    let (st, v) = post(
        &s,
        "/api/layers?id=blocked&title=b&category=test",
        upload_fixture("village.geojson"),
        "application/geo+json",
        Some(Role::Publisher),
    )
    .await;
    assert_eq!(st, 503, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("nothing was published"),
        "{v}"
    );
    assert_eq!(
        get(&format!("{}/tiles/blocked", s.base)).await.status(),
        404
    );
    let list: Value = get_as(&format!("{}/api/layers", s.base), Role::Publisher)
        .await
        .json()
        .await
        .expect("json");
    let listed = list["layers"].as_array().expect("layers");
    assert!(
        listed
            .iter()
            .all(|l| l["id"] != "blocked" || l["current"].is_null()),
        "{list}"
    );
}

/// A review "as of" a date uses the layer versions then in force; a rerun
/// restores the versions its verdict recorded.
#[tokio::test]
async fn reviews_as_of_a_date_and_reruns_use_the_versions_then_in_force() {
    let data = tempfile::tempdir().expect("tmp");
    let s = super::support::start_with(
        &repo().join("layers"),
        ServerConfig::default(),
        Some((
            repo().join("rules/homestead.toml"),
            data.path().to_path_buf(),
        )),
    );
    let text = std::fs::read_to_string(repo().join("fixtures/small/applications.geojson"))
        .expect("applications");
    let fc: Value = serde_json::from_str(&text).expect("json");
    let case = fc["features"]
        .as_array()
        .expect("features")
        .iter()
        .find(|f| f["properties"]["label"]["case"] == "farmland-01")
        .expect("farmland-01")
        .clone();
    let request = |as_of: Option<&str>| {
        let mut r = serde_json::json!({"plot": case["geometry"],
            "applicant": case["properties"]["applicant"],
            "application": case["properties"]["application"]});
        if let Some(t) = as_of {
            r["as_of"] = Value::String(t.to_string());
        }
        r
    };
    let review = |body: Value| {
        let base = s.base.clone();
        async move {
            let r = reqwest::Client::new()
                .post(format!("{base}/api/reviews"))
                .bearer_auth(key(Role::Approver))
                .json(&body)
                .send()
                .await
                .expect("review");
            let st = r.status().as_u16();
            (st, r.json::<Value>().await.expect("json"))
        }
    };
    let farmland = |v: &Value| {
        v["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["rule"] == "farmland")
            .map(|f| f["status"].as_str().unwrap_or_default().to_string())
            .expect("farmland finding")
    };
    let (st, before) = review(request(None)).await;
    assert_eq!(st, 201, "{before}");
    assert_eq!(farmland(&before), "fail");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let t0 = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // A new farmland version: one small square far from the plot.
    let square = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"dlbm":"0101"},"geometry":{"type":"Polygon","coordinates":[[[113.001,22.901],[113.002,22.901],[113.002,22.902],[113.001,22.902],[113.001,22.901]]]}}]}"#;
    let (st, v) = post(
        &s,
        "/api/layers/farmland/versions",
        square.as_bytes().to_vec(),
        "application/geo+json",
        Some(Role::Publisher),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let (st, now) = review(request(None)).await;
    assert_eq!(st, 201, "{now}");
    assert_eq!(farmland(&now), "pass", "the new farmland version is used");
    let (st, then) = review(request(Some(&t0))).await;
    assert_eq!(st, 201, "{then}");
    assert_eq!(farmland(&then), "fail", "as of {t0}: the old version");
    assert_eq!(then["layers"]["farmland"], before["layers"]["farmland"]);
    // Rerun of the first review restores the old farmland version.
    let id = before["id"].as_str().expect("id");
    let r = reqwest::Client::new()
        .post(format!("{}/api/reviews/{id}/rerun", s.base))
        .bearer_auth(key(Role::Approver))
        .send()
        .await
        .expect("rerun");
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-same-outcome"], "true");
    // Bad dates are 422 naming the field.
    for bad in ["yesterday", "2999-01-01T00:00:00Z"] {
        let (st, v) = review(request(Some(bad))).await;
        assert_eq!(st, 422, "{bad}: {v}");
        assert_eq!(v["problems"][0]["field"], "as_of", "{v}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bootstrap_version_records_its_files_size_and_sha256() {
    // The loader hashes the file as it reads it and the catalog records that
    // digest (not a second read): it must be the file's own.
    use sha2::{Digest, Sha256};
    let (s, dir) = server(ServerConfig::default());
    let bytes = std::fs::read(dir.path().join("squares.geojson")).expect("read");
    let versions: Value = get_as(
        &format!("{}/api/layers/squares/versions", s.base),
        Role::Publisher,
    )
    .await
    .json()
    .await
    .expect("versions");
    let v = &versions["versions"][0];
    assert_eq!(v["origin"], "bootstrap", "{versions}");
    assert_eq!(
        v["sha256"],
        hex::encode(Sha256::digest(&bytes)),
        "{versions}"
    );
    assert_eq!(v["bytes"], bytes.len() as u64, "{versions}");
}

/// A layer published with `label_points=true` is served with its label
/// point layer at once: in its TileJSON and, one point per polygon, in its
/// tiles.
#[tokio::test]
async fn a_published_polygon_layer_can_carry_label_points() {
    let (s, _dir) = server(ServerConfig::default());
    let (st, v) = post(
        &s,
        "/api/layers?id=plots_up&title=plots&category=test&label_points=true",
        upload_fixture("village_4547_gbk.zip"),
        "application/zip",
        Some(Role::Publisher),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let tj: Value = get(&format!("{}/tiles/plots_up", s.base))
        .await
        .json()
        .await
        .expect("tilejson");
    let ids = vector_layer_ids(&format!("{}/tiles/plots_up", s.base)).await;
    assert_eq!(ids, vec!["plots_up", "plots_up.label"]);
    // At z12 the 15 plots (a few hundred metres across) fit in a tile or
    // two: every plot that is drawn has exactly one label point.
    let b = &tj["bounds"];
    let (w, s_, e, n) = (
        b[0].as_f64().expect("w"),
        b[1].as_f64().expect("s"),
        b[2].as_f64().expect("e"),
        b[3].as_f64().expect("n"),
    );
    let (_, x0, y0) = tile_of(w, n, 12);
    let (_, x1, y1) = tile_of(e, s_, 12);
    let (mut polygons, mut labels) = (BTreeSet::new(), Vec::new());
    for x in x0..=x1 {
        for y in y0..=y1 {
            let r = get(&format!("{}/tiles/plots_up/12/{x}/{y}", s.base)).await;
            if r.status() == 204 {
                continue;
            }
            let reader = decode(&r.bytes().await.expect("body"));
            for (i, name) in reader.get_layer_names().expect("names").iter().enumerate() {
                let ids = reader
                    .get_features(i)
                    .expect("features")
                    .into_iter()
                    .map(|f| f.id);
                match name.as_str() {
                    "plots_up" => polygons.extend(ids),
                    "plots_up.label" => labels.extend(ids),
                    other => panic!("unexpected layer {other}"),
                }
            }
        }
    }
    labels.sort();
    assert!(!polygons.is_empty());
    assert_eq!(labels, polygons.into_iter().collect::<Vec<_>>());
}
