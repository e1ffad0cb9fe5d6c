//! Styles served over the bundled fixtures: sources point at this server,
//! every `source-layer` is a catalogued layer, and the TileJSON and a tile
//! behind each source answer.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use tudi::auth::Role;

use super::support::{fixtures_server, folder, get_as, tile_of};

/// As an admin: the style names restricted layers too.
async fn json(url: &str) -> Value {
    let r = get_as(url, Role::Admin).await;
    assert_eq!(r.status(), 200, "{url}");
    r.json().await.expect("json")
}

#[tokio::test]
async fn land_review_points_at_the_server_and_names_catalogued_layers() {
    let s = fixtures_server();
    let style = json(&format!("{}/styles/land-review", s.base)).await;
    assert_eq!(style["version"], 8);
    assert_eq!(
        style["glyphs"],
        format!("{}/fonts/{{fontstack}}/{{range}}.pbf", s.base)
    );
    let cat = json(&format!("{}/catalog", s.base)).await;
    let catalogued: BTreeSet<&str> = cat["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|l| l["id"].as_str())
        .collect();
    // Source name -> layers its TileJSON offers; one tile of each answers.
    let mut offered: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, src) in style["sources"].as_object().expect("sources") {
        let url = src["url"].as_str().expect("url");
        assert!(url.starts_with(&format!("{}/tiles/", s.base)), "{url}");
        let tj = json(url).await;
        let ids: BTreeSet<String> = tj["vector_layers"]
            .as_array()
            .expect("vector_layers")
            .iter()
            .filter_map(|l| l["id"].as_str().map(str::to_string))
            .collect();
        let template = tj["tiles"][0].as_str().expect("tile template");
        let (z, x, y) = tile_of(113.05, 23.0, 12);
        let tile = template
            .replace("{z}", &z.to_string())
            .replace("{x}", &x.to_string())
            .replace("{y}", &y.to_string());
        let status = get_as(&tile, Role::Admin).await.status();
        assert!(status == 200 || status == 204, "{tile}: {status}");
        offered.insert(name.clone(), ids);
    }
    let layers = style["layers"].as_array().expect("layers");
    let mut used = BTreeSet::new();
    for l in layers {
        let Some(sl) = l["source-layer"].as_str() else {
            continue;
        };
        // A label layer (`villages.label`) comes with its catalogued layer.
        let layer = sl.strip_suffix(".label").unwrap_or(sl);
        assert!(catalogued.contains(layer), "`{sl}` is not in the catalog");
        let src = l["source"].as_str().expect("source");
        assert!(
            offered[src].contains(sl),
            "`{sl}` is not offered by `{src}`"
        );
        used.insert(layer);
    }
    // land-review draws every catalogued layer.
    assert_eq!(used, catalogued);
}

#[tokio::test]
async fn proxy_headers_rewrite_style_urls() {
    let s = fixtures_server();
    let r = reqwest::Client::new()
        .get(format!("{}/styles/parcels", s.base))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "gis.nanhai.example")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    let style: Value = r.json().await.expect("json");
    for src in style["sources"].as_object().expect("sources").values() {
        let url = src["url"].as_str().expect("url");
        assert!(
            url.starts_with("https://gis.nanhai.example/tiles/"),
            "{url}"
        );
    }
}

#[tokio::test]
async fn list_and_unknown_style() {
    let s = fixtures_server();
    let list = json(&format!("{}/styles", s.base)).await;
    let names: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert!(names.contains(&"land-review") && names.contains(&"parcels"));
    let r = get_as(&format!("{}/styles/nope", s.base), Role::Admin).await;
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "not_found");
}

#[test]
fn bad_style_stops_startup_naming_the_file() {
    let layers = folder(&[
        (
            "l.toml",
            "id = \"a\"\ntitle = \"A\"\ncategory = \"c\"\nsource = \"d.geojson\"\ncrs = \"EPSG:4326\"\n",
        ),
        ("d.geojson", r#"{"type":"FeatureCollection","features":[]}"#),
    ]);
    let styles = folder(&[(
        "mine.json",
        r#"{"version": 8, "sources": {"s": {"type": "vector", "url": "tudi://tiles/a,zoning"}}, "layers": []}"#,
    )]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tudi"))
        .args(["serve", "--no-review", "--bind", "127.0.0.1:0", "--layers"])
        .arg(layers.path())
        .arg("--styles")
        .arg(styles.path())
        .output()
        .expect("run tudi");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mine.json") && err.contains("unknown layer `zoning`"),
        "{err}"
    );
}
