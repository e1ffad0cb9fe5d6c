//! Shared server state: the layer registry, the tile cache, metrics,
//! configuration and the start-up loading progress.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::cache::TileCache;
use crate::layer::{LayerDef, Registry};
use crate::metrics::Metrics;
use crate::review::RuleSet;
use crate::store::AuditStore;
use crate::tiles::RenderOptions;

/// Server settings (from the command line).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Public base URL for links in TileJSON and styles, e.g.
    /// `https://gis.example.gov.cn/tudi`. When unset it is derived from the
    /// request (`X-Forwarded-Proto`/`X-Forwarded-Host`, then `Host`).
    pub public_url: Option<String>,
    pub render: RenderOptions,
    /// Tile cache budget in bytes (0 disables the cache).
    pub cache_bytes: u64,
    /// Most layers one composite tile request may name.
    pub max_composite: usize,
    /// `max-age` for tile URLs without the current version tag.
    pub tile_max_age: u32,
    /// Largest single review request body, bytes.
    pub max_review_bytes: usize,
    /// Largest batch review request body, bytes.
    pub max_batch_bytes: usize,
    /// Largest layer upload, bytes.
    pub max_upload_bytes: u64,
    /// Most vertices in all the features of one uploaded layer version.
    pub max_layer_vertices: usize,
    /// Time limit for a request (tiles, catalog, reviews...) up to its
    /// response head; `None`: no limit. Answer: `503` with `Retry-After`.
    pub request_timeout: Option<Duration>,
    /// Time limit for the long requests: uploads (`POST /api/layers`,
    /// `POST /api/layers/{id}/versions`) and batch reviews.
    pub long_request_timeout: Option<Duration>,
    /// Longest wait for the next piece of a request body; `None`: no limit.
    /// Answer: `408` and the connection is closed.
    pub body_idle_timeout: Option<Duration>,
    /// Time a client has to send a request's headers, also the idle time
    /// allowed between requests of a keep-alive connection (slowloris);
    /// the connection is closed.
    pub header_read_timeout: Duration,
    /// Most tiles rendered at once (cache misses).
    pub max_renders: usize,
    /// Longest wait for a render slot before answering `503`.
    pub render_wait: Duration,
    /// Requests per second allowed per client (API key, else IP address);
    /// `0.0` turns rate limiting off. Answer: `429` with `Retry-After`.
    pub rate_per_s: f64,
    /// Requests a client may make at once above the rate (bucket size).
    pub rate_burst: u32,
    /// Reverse proxies whose `X-Forwarded-For` names the client: a request
    /// from one of these addresses is rate limited by the address the
    /// header gives (the rightmost one not itself a trusted proxy); from
    /// anywhere else the header is ignored. Empty (default): never trusted.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `GET /metrics` without a key: `true` serves every series; `false`
    /// (default) leaves out per-layer series of layers the caller may not
    /// see, like every other endpoint.
    pub public_metrics: bool,
}

/// Tile renders run at once by default: one per core. A render is pure
/// CPU work on memory, so more at once only share the cores: with two per
/// core the slowest tiles took twice as long while waiting requests
/// gained nothing (cold z14-z17 list, 16 connections, 2 cores: p99 83-96
/// -> 53 ms, slowest tile 145-238 -> 87-97 ms, same tiles/s; BENCHMARKS.md).
pub fn default_max_renders() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            public_url: None,
            render: RenderOptions::default(),
            cache_bytes: 256 * 1024 * 1024,
            max_composite: 32,
            tile_max_age: 60,
            max_review_bytes: 1024 * 1024,
            max_batch_bytes: 64 * 1024 * 1024,
            max_upload_bytes: 512 * 1024 * 1024,
            max_layer_vertices: 25_000_000,
            request_timeout: Some(Duration::from_secs(30)),
            long_request_timeout: Some(Duration::from_secs(30 * 60)),
            body_idle_timeout: Some(Duration::from_secs(30)),
            header_read_timeout: Duration::from_secs(10),
            max_renders: default_max_renders(),
            render_wait: Duration::from_secs(5),
            rate_per_s: 200.0,
            rate_burst: 400,
            trusted_proxies: Vec::new(),
            public_metrics: false,
        }
    }
}

/// Start-up progress, reported by `/health`.
#[derive(Debug, Default)]
pub struct LoadProgress {
    pub total: AtomicUsize,
    /// Layers read, validated and indexed so far (loading runs on every
    /// core; they are published to the registry together at the end).
    pub read: AtomicUsize,
    pub loaded: AtomicUsize,
    pub failed: AtomicUsize,
    pub ready: AtomicBool,
}

impl LoadProgress {
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

pub struct AppState {
    pub registry: Arc<Registry>,
    /// Every configured layer definition, loaded or still loading.
    pub defs: RwLock<BTreeMap<String, LayerDef>>,
    pub cache: TileCache,
    pub metrics: Metrics,
    pub config: ServerConfig,
    pub progress: LoadProgress,
    pub started: Instant,
    /// The review rule set and the audit store (absent: reviews answer 503).
    pub review: Option<ReviewService>,
    /// District boundary in lon/lat, cached per boundary-layer version tag.
    pub district: std::sync::Mutex<Option<(String, Arc<crate::review::district::District>)>>,
    /// MapLibre styles served at `/styles` (absent: an empty list).
    pub styles: Option<Arc<crate::styles::Styles>>,
    /// The durable catalog of layers, versions and API keys (absent: no keys
    /// are accepted and nothing can be published).
    pub catalog: Option<Arc<dyn crate::store::Catalog>>,
    /// Recent API key lookups.
    pub keys: super::auth::KeyCache,
    /// Publishing: data folder and the lock that serialises publishes.
    pub publish: Option<Arc<crate::publish::Publisher>>,
    /// Per-client rate buckets and tile render slots.
    pub limits: super::limits::Limits,
    /// The store's state for `/health`.
    pub store_probe: super::store_probe::StoreProbe,
    /// The threads that cut and compress cold tiles.
    pub renders: super::cpu_pool::CpuPool,
    /// The threads that evaluate single reviews (one per core).
    pub reviews: super::cpu_pool::CpuPool,
}

/// What the review endpoints need.
pub struct ReviewService {
    pub rules: Arc<RuleSet>,
    pub store: Arc<dyn AuditStore>,
}

impl AppState {
    pub fn new(registry: Arc<Registry>, defs: Vec<LayerDef>, config: ServerConfig) -> AppState {
        let progress = LoadProgress::default();
        progress.total.store(defs.len(), Ordering::Relaxed);
        let limits = super::limits::Limits::new(&config);
        let renders = super::cpu_pool::CpuPool::new("render", config.max_renders);
        let reviews = super::cpu_pool::CpuPool::new("review", default_max_renders());
        AppState {
            registry,
            defs: RwLock::new(defs.into_iter().map(|d| (d.id.clone(), d)).collect()),
            cache: TileCache::new(config.cache_bytes),
            metrics: Metrics::new(),
            config,
            progress,
            started: Instant::now(),
            review: None,
            district: std::sync::Mutex::new(None),
            styles: None,
            catalog: None,
            keys: Default::default(),
            publish: None,
            limits,
            store_probe: Default::default(),
            renders,
            reviews,
        }
    }

    /// Adds the catalog (keys, and the layer versions publishing writes).
    pub fn with_catalog(mut self, catalog: Arc<dyn crate::store::Catalog>) -> AppState {
        self.catalog = Some(catalog);
        self
    }

    /// Adds publishing (needs the catalog).
    pub fn with_publisher(mut self, p: Arc<crate::publish::Publisher>) -> AppState {
        self.publish = Some(p);
        self
    }

    /// Adds the review service.
    pub fn with_review(mut self, rules: Arc<RuleSet>, store: Arc<dyn AuditStore>) -> AppState {
        self.review = Some(ReviewService { rules, store });
        self
    }

    /// Adds the styles served at `/styles`.
    pub fn with_styles(mut self, styles: Arc<crate::styles::Styles>) -> AppState {
        self.styles = Some(styles);
        self
    }

    /// The district boundary (lon/lat) of the current snapshot, if loaded.
    pub fn district(
        &self,
        snap: &crate::layer::registry::Snapshot,
    ) -> Option<Arc<crate::review::district::District>> {
        let layer = snap.get(crate::review::run::DISTRICT_LAYER)?;
        let tag = layer.version_tag();
        let mut guard = match self.district.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some((t, d)) = guard.as_ref()
            && *t == tag
        {
            return Some(d.clone());
        }
        let d = Arc::new(crate::review::run::district_lonlat(snap)?);
        *guard = Some((tag, d.clone()));
        Some(d)
    }

    /// Whether the caller may see configured layer `id` (loaded or not).
    pub fn is_visible(&self, id: &str, caller: &crate::auth::Caller) -> bool {
        let defs = match self.defs.read() {
            Ok(d) => d,
            Err(p) => p.into_inner(),
        };
        defs.get(id).is_some_and(|d| d.access.allows(caller))
    }

    /// Records a layer definition (a layer created or republished).
    pub fn set_def(&self, def: LayerDef) {
        match self.defs.write() {
            Ok(mut d) => d.insert(def.id.clone(), def),
            Err(p) => p.into_inner().insert(def.id.clone(), def),
        };
    }

    /// Forgets a layer definition (a deleted layer).
    pub fn remove_def(&self, id: &str) {
        match self.defs.write() {
            Ok(mut d) => d.remove(id),
            Err(p) => p.into_inner().remove(id),
        };
    }

    /// Whether `id` is configured (loaded or not).
    pub fn is_configured(&self, id: &str) -> bool {
        match self.defs.read() {
            Ok(d) => d.contains_key(id),
            Err(p) => p.into_inner().contains_key(id),
        }
    }
}
