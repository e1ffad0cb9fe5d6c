//! Test support: start a real server on port 0, build tiny layer folders,
//! decode tiles with an independent MVT decoder (`mvt-reader`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use tudi::auth::Role;
use tudi::http::{self, AppState, ServerConfig};
use tudi::layer::Registry;

pub struct Server {
    pub base: String,
    /// The data folder (catalog, audit trail, published versions).
    pub data: PathBuf,
}

/// The test key of a role: the same secret in every test server's catalog.
pub fn key(role: Role) -> &'static str {
    static KEYS: OnceLock<Vec<(Role, String)>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        Role::ALL
            .iter()
            .map(|r| (*r, tudi::auth::new_key().secret))
            .collect()
    });
    keys.iter()
        .find(|(r, _)| *r == role)
        .map(|(_, k)| k.as_str())
        .expect("every role has a key")
}

/// Opens the catalog of `data` and records the test keys in it.
pub fn catalog_with_keys(data: &Path) -> Arc<tudi::store::SqliteCatalog> {
    use tudi::store::Catalog;
    let catalog = tudi::store::SqliteCatalog::open(data).expect("catalog");
    let existing = catalog.keys().expect("keys");
    for role in Role::ALL {
        let secret = key(role);
        let hash = tudi::auth::hash_key(secret);
        let id = format!("k_test_{role}");
        if !existing.iter().any(|k| k.id == id) {
            catalog
                .create_key(&id, &hash, role, Some("test"))
                .expect("create key");
        }
    }
    Arc::new(catalog)
}

/// Starts a server for the layer folder on its own runtime thread; it lives
/// until the test process exits.
pub fn start(layers_dir: &Path, config: ServerConfig) -> Server {
    start_with(layers_dir, config, None)
}

/// Like [`start`], with the review service (rule file, data folder).
pub fn start_with(
    layers_dir: &Path,
    config: ServerConfig,
    review: Option<(PathBuf, PathBuf)>,
) -> Server {
    start_full(layers_dir, config, review, None)
}

/// Like [`start_with`], also serving the styles of a folder.
pub fn start_full(
    layers_dir: &Path,
    config: ServerConfig,
    review: Option<(PathBuf, PathBuf)>,
    styles: Option<PathBuf>,
) -> Server {
    let (tx, rx) = std::sync::mpsc::channel();
    let dir = layers_dir.to_path_buf();
    let data = match &review {
        Some((_, d)) => d.clone(),
        None => {
            let d = tempfile::tempdir().expect("tmp");
            let p = d.path().to_path_buf();
            std::mem::forget(d); // lives as long as the test process
            p
        }
    };
    let data2 = data.clone();
    std::thread::spawn(move || {
        let data = data2;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let defs = tudi::layer::config::read_dir(&dir).expect("layer definitions");
            let registry = Arc::new(Registry::default());
            let catalog = catalog_with_keys(&data);
            let publisher = Arc::new(tudi::publish::Publisher::new(
                &data,
                catalog.clone(),
                registry.clone(),
                &defs,
            ));
            let mut state = AppState::new(registry, defs.clone(), config)
                .with_catalog(catalog)
                .with_publisher(publisher);
            if let Some((rules, data)) = review {
                let rules = tudi::offline::load_rules(&rules, &defs).expect("rules");
                let store = tudi::store::SqliteStore::open(&data).expect("store");
                state = state.with_review(Arc::new(rules), Arc::new(store));
            }
            if let Some(styles) = styles {
                let styles = tudi::styles::load_dir_for(&styles, &defs).expect("styles");
                state = state.with_styles(Arc::new(styles));
            }
            let state = Arc::new(state);
            let errors = http::load_layers(state.clone(), defs).await;
            assert!(errors.is_empty(), "load errors: {errors:?}");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send");
            http::serve(listener, state, std::future::pending())
                .await
                .expect("serve");
        });
    });
    let addr = rx.recv().expect("server started");
    Server {
        base: format!("http://{addr}"),
        data,
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The server over the bundled fixtures (`layers/`), shared by tests.
pub fn fixtures_server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    static D: OnceLock<tempfile::TempDir> = OnceLock::new();
    S.get_or_init(|| {
        let data = D.get_or_init(|| tempfile::tempdir().expect("tmp"));
        start_full(
            &repo().join("layers"),
            // Shared by every test of the binary at once, all from
            // 127.0.0.1: one rate-limit bucket for them all would answer
            // 429 on a fast machine. Rate limits have their own server in
            // limits.rs.
            ServerConfig {
                rate_per_s: 0.0,
                ..ServerConfig::default()
            },
            Some((
                repo().join("rules/homestead.toml"),
                data.path().to_path_buf(),
            )),
            Some(repo().join("styles")),
        )
    })
}

/// A folder with the given `(file name, contents)` pairs.
pub fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, body) in files {
        std::fs::write(dir.path().join(name), body).expect("write");
    }
    dir
}

/// Two small layers around Nanhai: `squares` (polygons, lon/lat) and
/// `pts` (points), for tests that need no fixture data.
pub fn tiny_server() -> &'static Server {
    static S: OnceLock<(Server, tempfile::TempDir)> = OnceLock::new();
    &S.get_or_init(|| {
        let mut feats = Vec::new();
        for i in 0..20 {
            let x = 113.1001 + i as f64 * 0.0002;
            let y = 23.00;
            feats.push(format!(
                r#"{{"type":"Feature","properties":{{"code":"P{i:03}","n":{i},"area":{a},"ok":{ok}}},"geometry":{{"type":"Polygon","coordinates":[[[{x},{y}],[{x2},{y}],[{x2},{y2}],[{x},{y2}],[{x},{y}]]]}}}}"#,
                a = i as f64 * 1.5,
                ok = i % 2 == 0,
                x2 = x + 0.0001,
                y2 = y + 0.0001
            ));
        }
        let squares = format!(r#"{{"type":"FeatureCollection","features":[{}]}}"#, feats.join(","));
        let pts = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"name":"桂城"},"geometry":{"type":"Point","coordinates":[113.15,23.04]}},
            {"type":"Feature","properties":{"name":"西樵"},"geometry":{"type":"Point","coordinates":[112.96,22.93]}},
            {"type":"Feature","properties":{"name":"平洲"},"geometry":{"type":"Point","coordinates":[113.1025,23.0003]}}]}"#;
        let dir = folder(&[
            ("squares.geojson", &squares),
            ("pts.geojson", pts),
            (
                "squares.toml",
                r#"id = "squares"
title = "Squares"
category = "test"
source = "squares.geojson"
crs = "EPSG:4326"
attributes = ["code", "n", "area", "ok"]
"#,
            ),
            (
                "pts.toml",
                r#"id = "pts"
title = "Points"
category = "test"
source = "pts.geojson"
crs = "EPSG:4490"
attributes = ["name"]
"#,
            ),
        ]);
        (start(dir.path(), ServerConfig::default()), dir)
    })
    .0
}

/// Tile (z, x, y) containing lon/lat (independent of tudi's tile math).
pub fn tile_of(lon: f64, lat: f64, z: u8) -> (u8, u32, u32) {
    let n = 2f64.powi(z as i32);
    let x = ((lon + 180.0) / 360.0 * n).floor() as u32;
    let lat_r = lat.to_radians();
    let y = ((1.0 - (lat_r.tan() + 1.0 / lat_r.cos()).ln() / std::f64::consts::PI) / 2.0 * n)
        .floor() as u32;
    (z, x, y)
}

/// An anonymous GET.
pub async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url).await.expect("request")
}

/// A GET with the test key of `role`.
pub async fn get_as(url: &str, role: Role) -> reqwest::Response {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(key(role))
        .send()
        .await
        .expect("request")
}

/// The ids of the `vector_layers` of the TileJSON at `url`.
pub async fn vector_layer_ids(url: &str) -> Vec<String> {
    let tj: serde_json::Value = get(url).await.json().await.expect("tilejson");
    tj["vector_layers"]
        .as_array()
        .expect("vector_layers")
        .iter()
        .filter_map(|l| l["id"].as_str().map(str::to_string))
        .collect()
}

pub fn decode(bytes: &[u8]) -> mvt_reader::Reader {
    mvt_reader::Reader::new(bytes.to_vec()).expect("valid MVT")
}
