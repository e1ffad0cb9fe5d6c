//! Command-line interface: `tudi serve`, `tudi check`, `tudi export`,
//! `tudi fixtures` and the rest.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "tudi",
    version,
    about = "土地 tudi: vector tile and land-review server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve every layer in the layers folder as vector tiles.
    Serve(ServeArgs),
    /// Load every layer once and print what loading found (JSON), then exit.
    Check {
        /// Folder of layer definitions (`*.toml`).
        #[arg(long, default_value = "layers")]
        layers: PathBuf,
    },
    /// Review every plot of a GeoJSON FeatureCollection offline (applicant
    /// and application in each feature's properties); verdicts go to the
    /// audit trail and, as NDJSON, to `--out`.
    Review {
        /// The FeatureCollection of proposed plots.
        plots: PathBuf,
        /// Where to write the verdicts (NDJSON).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "layers")]
        layers: PathBuf,
        #[arg(long, default_value = "rules/homestead.toml")]
        rules: PathBuf,
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Store: `postgres://user:password@host:port/db` for the shared
        /// PostgreSQL/PostGIS store (default: the SQLite files in
        /// `--data-dir`). The password is never printed.
        #[arg(long, env = "TUDI_STORE", hide_env_values = true)]
        store: Option<String>,
    },
    /// The audit trail of review verdicts.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// API keys, stored hashed in `DATA_DIR/catalog.sqlite` (works while
    /// the server runs).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Upload a file to a running server as a new version of a layer, or as
    /// a new layer when `--title` and `--category` are given.
    Publish(PublishArgs),
    /// Pre-render the tiles of some layers over a box and a zoom range into
    /// a PMTiles v3 or MBTiles archive (written as OUT.part, renamed to OUT
    /// only when complete); prints a JSON summary.
    Export(ExportArgs),
    /// Generate the synthetic district (deterministic from the seed).
    Fixtures {
        #[arg(long, value_enum, default_value_t = ScaleArg::Small)]
        scale: ScaleArg,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Folder for the data files.
        #[arg(long)]
        out: PathBuf,
        /// Folder for the layer definitions (default: OUT/layers).
        #[arg(long)]
        layers_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain; prints a JSON report and exits 1 if broken.
    Verify {
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Store: `postgres://user:password@host:port/db` for the shared
        /// PostgreSQL/PostGIS store (default: the SQLite files in
        /// `--data-dir`). The password is never printed.
        #[arg(long, env = "TUDI_STORE", hide_env_values = true)]
        store: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (the only time it is shown) on stdout.
    Create {
        /// viewer, approver, publisher or admin.
        #[arg(long)]
        role: String,
        /// Who or what the key is for.
        #[arg(long)]
        label: Option<String>,
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Store: `postgres://user:password@host:port/db` for the shared
        /// PostgreSQL/PostGIS store (default: the SQLite files in
        /// `--data-dir`). The password is never printed.
        #[arg(long, env = "TUDI_STORE", hide_env_values = true)]
        store: Option<String>,
    },
    /// List keys (ids, roles, labels; never the secrets) as JSON.
    List {
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Store: `postgres://user:password@host:port/db` for the shared
        /// PostgreSQL/PostGIS store (default: the SQLite files in
        /// `--data-dir`). The password is never printed.
        #[arg(long, env = "TUDI_STORE", hide_env_values = true)]
        store: Option<String>,
    },
    /// Revoke a key by its id (`k_...`).
    Revoke {
        id: String,
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Store: `postgres://user:password@host:port/db` for the shared
        /// PostgreSQL/PostGIS store (default: the SQLite files in
        /// `--data-dir`). The password is never printed.
        #[arg(long, env = "TUDI_STORE", hide_env_values = true)]
        store: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// GeoJSON, GeoPackage, zipped Shapefile or FlatGeobuf.
    pub file: PathBuf,
    /// Layer id.
    #[arg(long)]
    pub id: String,
    /// Title of a new layer.
    #[arg(long)]
    pub title: Option<String>,
    /// Category of a new layer.
    #[arg(long)]
    pub category: Option<String>,
    /// Access of a new layer: public, restricted or a role list.
    #[arg(long)]
    pub access: Option<String>,
    /// CRS of the file when it does not say (or says wrong), e.g. EPSG:4547.
    #[arg(long)]
    pub crs: Option<String>,
    /// Validate only: print the report, publish nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Note kept with the version.
    #[arg(long)]
    pub note: Option<String>,
    /// The server's base URL.
    #[arg(long, env = "TUDI_SERVER", default_value = "http://127.0.0.1:3000")]
    pub server: String,
    /// A publisher's API key.
    #[arg(long, env = "TUDI_KEY", hide_env_values = true)]
    pub key: String,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The archive: `*.pmtiles` or `*.mbtiles`.
    pub out: PathBuf,
    /// Layer ids, comma-separated: one MVT layer each, in this order.
    #[arg(long, value_delimiter = ',', required = true)]
    pub layers: Vec<String>,
    /// `W,S,E,N` in degrees (default: the layers' extent).
    #[arg(long, allow_hyphen_values = true)]
    pub bbox: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub minzoom: u8,
    #[arg(long, default_value_t = 16)]
    pub maxzoom: u8,
    /// Folder of layer definitions (`*.toml`).
    #[arg(long, default_value = "layers")]
    pub layers_dir: PathBuf,
    /// Also export layers that are not public and attributes masked from
    /// anonymous callers (the archive is readable by whoever has the file).
    #[arg(long)]
    pub include_restricted: bool,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// Render threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScaleArg {
    Small,
    District,
    /// The district plus 616 thematic services (88 themes x 7 towns).
    City,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub bind: String,
    /// Folder of layer definitions (`*.toml`).
    #[arg(long, default_value = "layers")]
    pub layers: PathBuf,
    /// Public base URL for links (TileJSON, styles) when behind a proxy that
    /// does not send X-Forwarded-Host.
    #[arg(long, env = "TUDI_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Review rule set.
    #[arg(long, default_value = "rules/homestead.toml")]
    pub rules: PathBuf,
    /// Folder of MapLibre styles (`*.json`) served at `/styles`; a bad style
    /// fails start-up. Default: `styles` if it exists (bad styles logged).
    #[arg(long)]
    pub styles: Option<PathBuf>,
    /// Serve tiles only: no review endpoints, no rule set, no store.
    #[arg(long)]
    pub no_review: bool,
    /// Folder for the embedded store (audit trail), created if missing.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Store: `postgres://user:password@host:port/db` puts the catalog,
    /// API keys, audit trail and layer versions in PostgreSQL/PostGIS,
    /// shared by several instances (default: SQLite files and FlatGeobuf
    /// in `--data-dir`). The password is never logged.
    #[arg(long, env = "TUDI_STORE", hide_env_values = true)]
    pub store: Option<String>,
    /// Tile cache budget in MiB (0 disables the cache).
    #[arg(long, default_value_t = 256)]
    pub cache_mb: u64,
    /// Largest tile to emit, in KB (features are simplified harder or
    /// dropped until a tile fits).
    #[arg(long, default_value_t = 500)]
    pub max_tile_kb: usize,
    /// Largest layer upload, in MiB (`413` above it, before buffering).
    #[arg(long, default_value_t = 512)]
    pub max_upload_mb: u64,
    /// Most vertices in all features of one uploaded layer version (`422`
    /// above it).
    #[arg(long, default_value_t = 25_000_000)]
    pub max_layer_vertices: usize,
    /// Seconds a request may take up to its response head (`503` after);
    /// 0: no limit.
    #[arg(long, default_value_t = 30)]
    pub request_timeout_s: u64,
    /// Seconds an upload or a batch review may take up to its response head
    /// (`503` after); 0: no limit.
    #[arg(long, default_value_t = 1800)]
    pub long_request_timeout_s: u64,
    /// Seconds to wait for the next piece of a request body (`408` and the
    /// connection closed after); 0: no limit.
    #[arg(long, default_value_t = 30)]
    pub body_idle_timeout_s: u64,
    /// Seconds a client has to send a request's headers, also the idle
    /// time allowed on a keep-alive connection (closed after).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_s: u64,
    /// Most tiles cut at once (default: one per core; at most 1024): the
    /// render pool has this many threads.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub max_renders: Option<u64>,
    /// Milliseconds a tile request waits for a free render slot (`503`
    /// after).
    #[arg(long, default_value_t = 5000)]
    pub render_wait_ms: u64,
    /// Requests per second per client (API key, else IP address; `429`
    /// above it); 0: no rate limit.
    #[arg(long, default_value_t = 200.0)]
    pub rate_limit: f64,
    /// Requests a client may send at once above the rate.
    #[arg(long, default_value_t = 400, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_burst: u32,
    /// A reverse proxy (address or CIDR range, e.g. `127.0.0.1` or
    /// `10.0.0.0/8`) whose `X-Forwarded-For` names the client for rate
    /// limiting; repeatable or comma-separated. Default: none trusted, the
    /// header is ignored.
    #[arg(long = "trusted-proxy", value_delimiter = ',', value_parser = parse_net)]
    pub trusted_proxy: Vec<ipnet::IpNet>,
    /// Serve every series of `/metrics` to anyone, per-layer series of
    /// restricted layers included (default: only what the caller may see).
    #[arg(long)]
    pub public_metrics: bool,
    /// Folder of font files (`.ttf`, `.otf`, `.ttc`) for map-label glyphs at
    /// `/fonts`, besides the embedded Noto Sans; repeatable. Default: where
    /// Debian's fonts-noto-cjk puts its fonts (CJK labels).
    #[arg(long = "fonts-dir", default_value = crate::glyphs::DEFAULT_FONTS_DIR)]
    pub fonts_dir: Vec<PathBuf>,
}

/// An address or a CIDR range (`10.0.0.0/8`, `::1`, `192.0.2.1`).
fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{s}` is not an IP address or a CIDR range like 10.0.0.0/8"))
}
