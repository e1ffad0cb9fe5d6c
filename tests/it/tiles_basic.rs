//! Tiles, TileJSON and HTTP caching semantics on the tiny test layers.

use std::io::Read;

use super::support::{Server, decode, get, tile_of, tiny_server};

#[tokio::test]
async fn tile_decodes_with_independent_reader() {
    let s = tiny_server();
    let (z, x, y) = tile_of(113.102, 23.00005, 14);
    let r = get(&format!("{}/tiles/squares/{z}/{x}/{y}.mvt", s.base)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.mapbox-vector-tile"
    );
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let bytes = r.bytes().await.expect("body");
    let reader = decode(&bytes);
    let names = reader.get_layer_names().expect("names");
    assert_eq!(names, vec!["squares".to_string()]);
    let feats = reader.get_features(0).expect("features");
    assert_eq!(feats.len(), 20, "all 20 squares lie in this z14 tile");
    // Typed attributes: strings, integers, floats, booleans survive.
    let f = feats
        .iter()
        .find(|f| f.id == Some(4))
        .expect("feature id 4 (row 4 -> id 4)");
    let props = f.properties.as_ref().expect("props");
    use mvt_reader::feature::Value;
    assert_eq!(props.get("code"), Some(&Value::String("P003".into())));
    assert!(matches!(
        props.get("n"),
        Some(Value::Int(3) | Value::SInt(3) | Value::UInt(3))
    ));
    assert!(matches!(props.get("ok"), Some(Value::Bool(false))));
}

#[tokio::test]
async fn empty_tile_is_204() {
    let s = tiny_server();
    let r = get(&format!("{}/tiles/squares/10/0/0", s.base)).await;
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn gzip_brotli_etag_and_304() {
    let s = tiny_server();
    let (z, x, y) = tile_of(113.102, 23.00005, 14);
    let url = format!("{}/tiles/squares/{z}/{x}/{y}", s.base);
    let client = reqwest::Client::new();
    let plain = client.get(&url).send().await.expect("get");
    let etag = plain.headers()["etag"].to_str().expect("etag").to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong etag: {etag}"
    );
    let raw = plain.bytes().await.expect("raw");

    let gz = client
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("gzip");
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["vary"], "Accept-Encoding");
    let gz_etag = gz.headers()["etag"].to_str().expect("etag").to_string();
    assert_ne!(gz_etag, etag);
    let body = gz.bytes().await.expect("body");
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut out)
        .expect("gunzip");
    assert_eq!(out, raw);

    let br = client
        .get(&url)
        .header("accept-encoding", "br")
        .send()
        .await
        .expect("br");
    assert_eq!(br.headers()["content-encoding"], "br");
    let body = br.bytes().await.expect("body");
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut &body[..], &mut out).expect("unbrotli");
    assert_eq!(out, raw);

    let nm = client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("304");
    assert_eq!(nm.status(), 304);
    let other = client
        .get(&url)
        .header("if-none-match", "\"nope\"")
        .send()
        .await
        .expect("200");
    assert_eq!(other.status(), 200);
}

#[tokio::test]
async fn tilejson_describes_layer_and_versioned_url_is_immutable() {
    let s = tiny_server();
    let tj = squares_tilejson(s).await;
    assert_eq!(tj["tilejson"], "3.0.0");
    let url = tj["tiles"][0].as_str().expect("tiles url");
    assert!(url.starts_with(&s.base), "{url}");
    assert!(url.contains("/tiles/squares/{z}/{x}/{y}"), "{url}");
    assert!(url.contains("?v="), "{url}");
    assert_eq!(tj["vector_layers"][0]["id"], "squares");
    assert_eq!(tj["vector_layers"][0]["fields"]["code"], "String");
    assert_eq!(tj["vector_layers"][0]["fields"]["n"], "Number");
    assert_eq!(tj["vector_layers"][0]["fields"]["ok"], "Boolean");
    let b = tj["bounds"].as_array().expect("bounds");
    assert!((b[0].as_f64().expect("w") - 113.1001).abs() < 1e-6);
    assert!((b[3].as_f64().expect("n") - 23.0001).abs() < 1e-6);

    let (z, x, y) = tile_of(113.102, 23.00005, 14);
    let versioned = url
        .replace("{z}", &z.to_string())
        .replace("{x}", &x.to_string())
        .replace("{y}", &y.to_string());
    let r = get(&versioned).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .expect("cc")
            .contains("immutable")
    );
    let r = get(&format!("{}/tiles/squares/{z}/{x}/{y}?v=0.stale", s.base)).await;
    assert!(
        !r.headers()["cache-control"]
            .to_str()
            .expect("cc")
            .contains("immutable")
    );
}

#[tokio::test]
async fn composite_has_one_layer_per_source_and_collapses_duplicates() {
    let s = tiny_server();
    let (z, x, y) = tile_of(113.102, 23.00005, 12);
    let one = get(&format!(
        "{}/tiles/squares,pts,squares,pts/{z}/{x}/{y}",
        s.base
    ))
    .await;
    assert_eq!(one.status(), 200);
    let bytes = one.bytes().await.expect("body");
    let names = decode(&bytes).get_layer_names().expect("names");
    assert_eq!(names, vec!["squares".to_string(), "pts".to_string()]);
    let tj: serde_json::Value = get(&format!("{}/tiles/pts,squares,pts", s.base))
        .await
        .json()
        .await
        .expect("tilejson");
    assert_eq!(tj["vector_layers"].as_array().expect("vl").len(), 2);
}

#[tokio::test]
async fn catalog_health_and_metrics() {
    let s = tiny_server();
    let cat: serde_json::Value = get(&format!("{}/catalog", s.base))
        .await
        .json()
        .await
        .expect("catalog");
    let services = cat["services"].as_array().expect("services");
    assert_eq!(services.len(), 2);
    let sq = services
        .iter()
        .find(|s| s["id"] == "squares")
        .expect("squares");
    assert_eq!(sq["features"], 20);
    assert_eq!(sq["geometry_type"], "polygon");
    assert_eq!(sq["category"], "test");
    assert_eq!(sq["minzoom"], 0);
    assert_eq!(sq["maxzoom"], 20);
    assert_eq!(sq["version"], 1);
    assert!(sq["bounds"].as_array().is_some_and(|b| b.len() == 4));

    let h: serde_json::Value = get(&format!("{}/health", s.base))
        .await
        .json()
        .await
        .expect("health");
    assert_eq!(h["status"], "ready");
    assert_eq!(h["layers_loaded"], 2);

    let (z, x, y) = tile_of(113.102, 23.00005, 13);
    get(&format!("{}/tiles/squares/{z}/{x}/{y}", s.base)).await;
    get(&format!("{}/tiles/squares/{z}/{x}/{y}", s.base)).await;
    let m = get(&format!("{}/metrics", s.base))
        .await
        .text()
        .await
        .expect("metrics");
    for needle in [
        "tudi_http_requests_total",
        "tudi_http_request_duration_seconds_bucket",
        "tudi_tile_size_bytes_bucket",
        "tudi_tile_cache_hits_total",
        "tudi_tile_cache_misses_total",
        "tudi_layer_memory_bytes{layer=\"squares\"}",
    ] {
        assert!(m.contains(needle), "metrics lack {needle}:\n{m}");
    }
}

/// Status, headers (all but `date`) and body of one answer.
async fn snapshot(r: reqwest::Response) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let status = r.status().as_u16();
    let mut headers: Vec<(String, String)> = r
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str() != "date")
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_string()))
        .collect();
    headers.sort();
    (status, headers, r.bytes().await.expect("body").to_vec())
}

/// A cached tile asked for anonymously is answered before the router
/// (`http::fast_tile`); the answer must be exactly the router's: the first
/// (uncached) request and a keyed request both go through the router.
#[tokio::test]
async fn cache_hit_fast_path_answers_like_the_router() {
    use tudi::auth::Role;
    let s = tiny_server();
    let tj = squares_tilejson(s).await;
    let v = tj["tiles"][0]
        .as_str()
        .and_then(|u| u.split("?v=").nth(1))
        .expect("versioned url")
        .to_string();
    let client = reqwest::Client::new();
    for (n, (suffix, query, enc)) in [
        ("", "", "identity"),
        (".mvt", "", "gzip"),
        (".pbf", "", "gzip, deflate, br"),
        ("", &*format!("?v={v}"), "gzip"),
        ("", "?v=stale&x=1", "gzip"),
    ]
    .into_iter()
    .enumerate()
    {
        // A zoom per case, so its first request is a miss.
        let (z, x, y) = tile_of(113.1021, 23.00005, 14 + n as u8);
        let url = format!("{}/tiles/squares/{z}/{x}/{y}{suffix}{query}", s.base);
        let send = |key: bool| {
            let mut rq = client.get(&url).header("accept-encoding", enc);
            if key {
                rq = rq.bearer_auth(super::support::key(Role::Viewer));
            }
            rq.send()
        };
        let first = snapshot(send(false).await.expect("miss")).await;
        let hit = snapshot(send(false).await.expect("hit")).await;
        let keyed = snapshot(send(true).await.expect("keyed hit")).await;
        assert_eq!(first.0, 200, "{url}");
        assert_eq!(hit, first, "{url} {enc}: fast path differs from the miss");
        assert_eq!(
            hit, keyed,
            "{url} {enc}: fast path differs from a keyed hit"
        );
        // Conditional request: 304 with the same headers either way.
        let etag = hit
            .1
            .iter()
            .find(|(k, _)| k == "etag")
            .map(|(_, v)| v.clone())
            .expect("etag");
        let cond = |key: bool| {
            let mut rq = client
                .get(&url)
                .header("accept-encoding", enc)
                .header("if-none-match", &etag);
            if key {
                rq = rq.bearer_auth(super::support::key(Role::Viewer));
            }
            rq.send()
        };
        let a = snapshot(cond(false).await.expect("304")).await;
        let b = snapshot(cond(true).await.expect("304 keyed")).await;
        assert_eq!(a.0, 304);
        assert_eq!(a, b, "{url}: 304 differs");
    }
    // Not found, bad coordinates and escapes keep the router's JSON errors.
    for path in [
        "/tiles/nope/15/1/1",
        "/tiles/squares/15/99999999/1",
        "/tiles/squares/x/1/1",
        "/tiles/squ%61res/15/1/1?v=%41",
    ] {
        let url = format!("{}{path}", s.base);
        let a = snapshot(get(&url).await).await;
        let b = snapshot(get(&url).await).await;
        assert!(a.0 >= 400 || a.0 == 204 || a.0 == 200, "{path}: {}", a.0);
        assert_eq!(a, b, "{path}");
    }
}

/// The TileJSON of the tiny server's `squares` layer.
async fn squares_tilejson(s: &Server) -> serde_json::Value {
    get(&format!("{}/tiles/squares", s.base))
        .await
        .json()
        .await
        .expect("tilejson")
}
