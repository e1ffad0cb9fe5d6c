//! Prometheus metrics: requests by route and status, latency histograms,
//! tile sizes, tile-cache hits and misses, per-layer memory.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Route {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LayerLabel {
    pub layer: String,
}

/// All of tudi's metrics and the registry that exports them.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RouteLabels, Counter>,
    pub latency: Family<Route, Histogram>,
    pub tile_bytes: Histogram,
    pub tile_render_seconds: Histogram,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub layer_memory: Family<LayerLabel, Gauge>,
    pub layer_features: Family<LayerLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tudi");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency = Family::<Route, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_1, 2.0, 18))
        });
        let tile_bytes = Histogram::new(exponential_buckets(64.0, 2.0, 16));
        let tile_render_seconds = Histogram::new(exponential_buckets(0.000_1, 2.0, 18));
        let cache_hits = Counter::default();
        let cache_misses = Counter::default();
        let layer_memory = Family::<LayerLabel, Gauge>::default();
        let layer_features = Family::<LayerLabel, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        registry.register(
            "tile_size_bytes",
            "Size of served tiles (uncompressed)",
            tile_bytes.clone(),
        );
        registry.register(
            "tile_render_duration_seconds",
            "Time to cut and encode one tile",
            tile_render_seconds.clone(),
        );
        registry.register("tile_cache_hits", "Tile cache hits", cache_hits.clone());
        registry.register(
            "tile_cache_misses",
            "Tile cache misses",
            cache_misses.clone(),
        );
        registry.register(
            "layer_memory_bytes",
            "Approximate resident bytes per loaded layer",
            layer_memory.clone(),
        );
        registry.register(
            "layer_features",
            "Features per loaded layer",
            layer_features.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            tile_bytes,
            tile_render_seconds,
            cache_hits,
            cache_misses,
            layer_memory,
            layer_features,
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
