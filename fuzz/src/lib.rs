//! Fuzzing entry points: one function per parser that outside input reaches.
//!
//! Shared by the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`, one line
//! each) and the main crate's corpus replay test (`tests/fuzz.rs` includes
//! this file with `#[path]`), so the corpus is replayed through exactly the
//! code that was fuzzed, on stable Rust and without libFuzzer.
//!
//! Every entry takes arbitrary bytes and must return without panicking; the
//! oracles besides "no panic" are noted per entry (tiles decode as valid MVT
//! within the buffer, no 5xx from the router, tile addresses round-trip).
//! Fixtures (the small synthetic district in `layers/` and the rule file)
//! are loaded once per process by [`world`].

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request};
use serde_json::Value;
use tower::ServiceExt;
use tudi::auth::{Caller, Role};
use tudi::http::{AppState, ServerConfig};
use tudi::ingest::{IngestOptions, UploadFormat};
use tudi::layer::registry::Snapshot;
use tudi::layer::{LayerDef, Registry, SourceFormat};
use tudi::review::RuleSet;
use tudi::review::district::District;
use tudi::tiles::{RenderOptions, TileCoord};

/// A fuzzing entry point.
pub type Entry = fn(&[u8]);

/// Every target: name (as in `fuzz/Cargo.toml` and `fuzz/corpus/<name>/`)
/// and entry point.
pub const TARGETS: &[(&str, Entry)] = &[
    ("geojson", geojson),
    ("flatgeobuf", flatgeobuf),
    ("gpkg", gpkg),
    ("shp_zip", shp_zip),
    ("rules", rules),
    ("tile_url", tile_url),
    ("review", review),
    ("http", http),
];

/// The repository root (this file is compiled from `fuzz/` and from the
/// main crate's tests).
pub fn repo() -> PathBuf {
    let m = Path::new(env!("CARGO_MANIFEST_DIR"));
    if m.join("layers").is_dir() {
        m.to_path_buf()
    } else {
        m.parent().unwrap_or(m).to_path_buf()
    }
}

/// The fixtures every stateful target uses, loaded once.
pub struct World {
    pub defs: Vec<LayerDef>,
    pub snap: Arc<Snapshot>,
    pub rules: Arc<RuleSet>,
    pub district: Option<District>,
    pub state: Arc<AppState>,
    pub app: axum::Router,
    pub rt: tokio::runtime::Runtime,
    /// `(placeholder, secret)`: `@viewer`, `@approver` in a header value of
    /// an `http` input become real keys.
    pub keys: Vec<(&'static str, String)>,
    _dir: tempfile::TempDir,
}

/// The small synthetic district (`layers/`), `rules/homestead.toml`, and an
/// in-memory server over them (catalog with a viewer and an approver key,
/// review service, no publishing).
pub fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let root = repo();
        let defs = tudi::layer::config::read_dir(&root.join("layers")).expect("layer definitions");
        let mut layers = Vec::new();
        for r in tudi::layer::load_all(&defs, 2, &|_, _| {}) {
            layers.push(r.expect("fixture layer loads").0);
        }
        let registry = Arc::new(Registry::new(layers));
        let snap = registry.snapshot();
        let rules = Arc::new(
            tudi::offline::load_rules(&root.join("rules/homestead.toml"), &defs).expect("rules"),
        );
        tudi::review::prepare(&rules, &snap);
        let district = tudi::review::run::district_lonlat(&snap);
        let dir = tempfile::tempdir().expect("temp dir");
        let catalog = tudi::store::SqliteCatalog::open(dir.path()).expect("catalog");
        let mut keys = Vec::new();
        for (name, role) in [("@viewer", Role::Viewer), ("@approver", Role::Approver)] {
            use tudi::store::Catalog;
            let k = tudi::auth::new_key();
            catalog
                .create_key(&k.id, &k.hash, role, Some("fuzz"))
                .expect("key");
            keys.push((name, k.secret));
        }
        let store = tudi::store::SqliteStore::open(dir.path()).expect("audit store");
        let config = ServerConfig {
            cache_bytes: 4 << 20,
            ..ServerConfig::default()
        };
        let styles = tudi::styles::load_dir_for(&root.join("styles"), &defs).expect("styles");
        let state = AppState::new(registry, defs.clone(), config)
            .with_catalog(Arc::new(catalog))
            .with_review(rules.clone(), Arc::new(store))
            .with_styles(Arc::new(styles));
        state
            .progress
            .loaded
            .store(defs.len(), std::sync::atomic::Ordering::Relaxed);
        state
            .progress
            .ready
            .store(true, std::sync::atomic::Ordering::Release);
        let state = Arc::new(state);
        let app = tudi::http::app(state.clone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        World {
            defs,
            snap,
            rules,
            district,
            state,
            app,
            rt,
            keys,
            _dir: dir,
        }
    })
}

/// A scratch file per thread (the upload readers take a path, like the
/// server's `data/tmp` files).
fn scratch(ext: &str, data: &[u8]) -> Option<PathBuf> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    let slot = SLOT.with(|s| *s);
    let dir = std::env::temp_dir().join(format!("tudi-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!("input-{slot}.{ext}"));
    std::fs::write(&path, data).ok()?;
    Some(path)
}

/// An upload through [`tudi::ingest::ingest`] (sniff, read, validate,
/// report); when the content sniffs as another format, the reader is still
/// run on it directly.
fn upload(data: &[u8], format: UploadFormat, ext: &str) {
    let Some(path) = scratch(ext, data) else {
        return;
    };
    let opts = IngestOptions {
        max_vertices_per_feature: 20_000,
        max_features: 20_000,
        max_uncompressed_bytes: 16 << 20,
        ..IngestOptions::default()
    };
    match tudi::ingest::ingest(&path, format, &opts) {
        Ok(ing) => {
            let _ = serde_json::to_vec(&ing.report);
        }
        Err(tudi::ingest::IngestError::FormatMismatch { .. }) => {
            let _ = tudi::ingest::read_upload(&path, format, &opts);
        }
        Err(_) => {}
    }
}

/// A configured layer read from fuzzed bytes: read with an allow-list and
/// an id field, validated, reprojected, indexed ([`tudi::layer::load_layer`]),
/// then cut into tiles at several zooms around its features; every tile
/// must decode as valid MVT ([`check_tile`]).
fn layer_file(data: &[u8], format: SourceFormat, ext: &str) {
    let allow = ["name".to_string(), "fid".to_string(), "zddm".to_string()];
    let _ = tudi::layer::read::read(Cursor::new(data), format, &allow, Some("fid"));
    let _ = tudi::layer::read::read_all_fields(Cursor::new(data), format);
    let Some(path) = scratch(ext, data) else {
        return;
    };
    let Some(dir) = path.parent() else { return };
    let text = format!(
        "id = \"fuzz\"\ntitle = \"Fuzz\"\ncategory = \"fuzz\"\nsource = {:?}\n\
         crs = \"EPSG:4326\"\nattributes = [\"name\", \"zddm\"]\nid_field = \"fid\"\n\
         invalid = \"repair\"\ndrop_small = {}\n",
        path.display().to_string(),
        data.len().is_multiple_of(2),
    );
    let Ok(def) = LayerDef::from_str(&dir.join("fuzz.toml"), &text) else {
        return;
    };
    let Ok((layer, _)) = tudi::layer::load_layer(&def, 1) else {
        return;
    };
    let Some(first) = layer.features.first() else {
        return;
    };
    let c = layer.bbox(first).center();
    let half = tudi::crs::MERCATOR_HALF;
    for z in [0u8, 9, 14, 19] {
        let n = 1u64 << z;
        let size = 2.0 * half / n as f64;
        let tx = ((c.x + half) / size).floor().clamp(0.0, (n - 1) as f64) as u64;
        let ty = ((half - c.y) / size).floor().clamp(0.0, (n - 1) as f64) as u64;
        let Ok(t) = TileCoord::new(u32::from(z), tx, ty) else {
            continue;
        };
        let opts = RenderOptions::default();
        if let Ok(r) = tudi::tiles::render_tile(&[&layer], t, &opts) {
            check_tile(&r.bytes, opts.buffer, opts.extent);
        }
        let small = RenderOptions {
            max_bytes: 600,
            ..RenderOptions::default()
        };
        if let Ok(r) = tudi::tiles::render_tile(&[&layer], t, &small) {
            check_tile(&r.bytes, small.buffer, small.extent);
        }
    }
}

/// Panics unless `bytes` is empty or an MVT whose polygons are valid (geo's
/// OGC validity on the decoded geometry) and whose coordinates lie within
/// the buffered tile.
pub fn check_tile(bytes: &[u8], buffer: u32, extent: u32) {
    use geo::{CoordsIter, Validation};
    if bytes.is_empty() {
        return;
    }
    let reader = match mvt_reader::Reader::new(bytes.to_vec()) {
        Ok(r) => r,
        Err(e) => panic!("tudi wrote a tile mvt-reader cannot read: {e:?}"),
    };
    let names = match reader.get_layer_names() {
        Ok(n) => n,
        Err(e) => panic!("tile without readable layers: {e:?}"),
    };
    let (lo, hi) = (-f64::from(buffer), f64::from(extent + buffer));
    for i in 0..names.len() {
        let features = match reader.get_features(i) {
            Ok(f) => f,
            Err(e) => panic!("layer {i} unreadable: {e:?}"),
        };
        for f in features {
            let g = f.geometry;
            for c in g.coords_iter() {
                let (x, y) = (f64::from(c.x), f64::from(c.y));
                assert!(
                    (lo..=hi).contains(&x) && (lo..=hi).contains(&y),
                    "feature {:?}: ({x}, {y}) outside the buffered tile",
                    f.id
                );
            }
            if matches!(
                g,
                geo::Geometry::Polygon(_) | geo::Geometry::MultiPolygon(_)
            ) {
                assert!(
                    g.is_valid(),
                    "feature {:?}: invalid polygon {:?}: {:?}",
                    f.id,
                    g.validation_errors(),
                    g
                );
            }
        }
    }
}

/// GeoJSON: a configured layer's source ([`tudi::layer::read`], load,
/// tiles) and an upload ([`tudi::ingest::ingest`]).
pub fn geojson(data: &[u8]) {
    layer_file(data, SourceFormat::GeoJson, "geojson");
    upload(data, UploadFormat::GeoJson, "geojson");
}

/// FlatGeobuf: a configured layer's source (load, tiles) and an upload.
pub fn flatgeobuf(data: &[u8]) {
    layer_file(data, SourceFormat::FlatGeobuf, "fgb");
    upload(data, UploadFormat::FlatGeobuf, "fgb");
}

/// GeoPackage upload ([`tudi::ingest::gpkg::read`] behind `ingest`).
pub fn gpkg(data: &[u8]) {
    upload(data, UploadFormat::GeoPackage, "gpkg");
}

/// Zipped Shapefile upload ([`tudi::ingest::shp::read_zip`] behind `ingest`).
pub fn shp_zip(data: &[u8]) {
    upload(data, UploadFormat::ShapefileZip, "zip");
}

/// Rule files ([`RuleSet::from_str`] against the fixture layers, as
/// `tudi::offline::load_rules` does) and, on the same text, layer
/// definitions ([`LayerDef::from_str`]).
pub fn rules(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let w = world();
    let lookup = |id: &str| {
        w.defs
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.attributes.clone())
    };
    let file = repo().join("rules/fuzz.toml");
    if let Ok(rs) = RuleSet::from_str(&file, text, &lookup) {
        let _ = rs.layers();
        tudi::review::prepare(&rs, &w.snap);
    }
    let _ = LayerDef::from_str(&repo().join("layers/fuzz.toml"), text);
}

/// Tile URLs: `{ids}/{z}/{x}/{y}` split like the router does, through
/// [`TileCoord::parse`] (an accepted address must print and parse back to
/// itself, with finite non-empty bounds) and the composite id resolution
/// of `src/http/tiles.rs` (duplicates collapsed, capped), then the whole
/// `GET /tiles/...` request through the router.
pub fn tile_url(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let w = world();
    let mut parts = s.rsplitn(4, '/');
    let (y, x, z, ids) = (parts.next(), parts.next(), parts.next(), parts.next());
    if let (Some(y), Some(x), Some(z)) = (y, x, z)
        && let Ok(t) = TileCoord::parse(z, x, y)
    {
        let back = TileCoord::parse(&t.z.to_string(), &t.x.to_string(), &t.y.to_string());
        assert_eq!(back, Ok(t), "{t} does not round-trip");
        let b = t.bounds();
        assert!(
            b.width() > 0.0 && b.height() > 0.0 && b.min().x.is_finite() && b.max().y.is_finite(),
            "{t}: bounds {b:?}"
        );
    }
    let ids = ids.unwrap_or(s);
    for caller in [Caller::anonymous(), Caller::with_role(Role::Approver, "k")] {
        if let Ok(layers) = tudi::http::tiles::resolve_layers(&w.state, &w.snap, ids, &caller) {
            assert!(layers.len() <= w.state.config.max_composite);
            for (i, l) in layers.iter().enumerate() {
                assert!(
                    layers[..i].iter().all(|m| m.def.id != l.def.id),
                    "duplicate layer {} in {ids:?}",
                    l.def.id
                );
            }
        }
    }
    request(w, Method::GET, &format!("/tiles/{s}"), &[], Vec::new());
}

/// Review requests: [`tudi::review::input::parse`] (the 422 path), and for
/// JSON the checked request evaluated on the fixture district
/// ([`tudi::review::evaluate`], every rule) and the verdict serialized; a
/// FeatureCollection is split into requests like a batch (geometry as the
/// plot, `applicant`, `application` and `crs` from the properties; at most
/// 8 features).
pub fn review(data: &[u8]) {
    let w = world();
    let _ = tudi::review::input::parse(data, w.district.as_ref());
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Some(Value::Array(features)) = v.get("features") {
        for f in features.iter().take(8) {
            let props = f.get("properties");
            let prop = |k: &str| props.and_then(|p| p.get(k)).cloned().unwrap_or(Value::Null);
            let crs = match prop("crs") {
                Value::Null => v.get("crs").cloned().unwrap_or(Value::Null),
                c => c,
            };
            let req = serde_json::json!({
                "plot": f.get("geometry").cloned().unwrap_or(Value::Null),
                "crs": crs,
                "applicant": prop("applicant"),
                "application": prop("application"),
            });
            evaluate(w, &req);
        }
    } else {
        evaluate(w, &v);
    }
}

fn evaluate(w: &World, v: &Value) {
    if let Ok(req) = tudi::review::input::parse_value(v, w.district.as_ref()) {
        let verdict = tudi::review::evaluate(&w.rules, &w.snap, &req.input);
        let _ = serde_json::to_vec(&verdict);
    }
}

/// Sends one request through the router (no socket) and reads the whole
/// body. Panics on a 5xx other than 503.
fn request(w: &World, method: Method, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        let mut v = v.to_string();
        for (name, key) in &w.keys {
            v = v.replace(name, key);
        }
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            b = b.header(k, v);
        }
    }
    let Ok(req) = b.body(Body::from(body)) else {
        return;
    };
    let shown = format!("{} {}", req.method(), req.uri());
    w.rt.block_on(async {
        let resp = match w.app.clone().oneshot(req).await {
            Ok(r) => r,
            Err(e) => match e {},
        };
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 64 << 20).await;
        assert!(
            !status.is_server_error() || status.as_u16() == 503,
            "{shown} answered {status}: {:?}",
            body.map(|b| String::from_utf8_lossy(&b)
                .chars()
                .take(300)
                .collect::<String>())
        );
    });
}

/// The whole router: `METHOD /path?query` on the first line, `Name: value`
/// header lines, an empty line, then the body (`@viewer` / `@approver` in a
/// header value stand for real keys). POSTs with the approver key are
/// skipped: they would append verdicts to the audit trail on disk, and the
/// `review` target covers their parsing and evaluation.
pub fn http(data: &[u8]) {
    let w = world();
    let text = String::from_utf8_lossy(data);
    let (head, body) = match text.find("\n\n") {
        Some(i) => (&text[..i], text[i + 2..].as_bytes().to_vec()),
        None => (&text[..], Vec::new()),
    };
    let mut lines = head.lines();
    let first = lines.next().unwrap_or("");
    let (method, uri) = first.split_once(' ').unwrap_or(("GET", first));
    let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
    let headers: Vec<(&str, &str)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    if method == Method::POST && headers.iter().any(|(_, v)| v.contains("@approver")) {
        return;
    }
    let uri = if uri.starts_with('/') {
        uri.to_string()
    } else {
        format!("/{uri}")
    };
    request(w, method, &uri, &headers, body);
}
