//! Command-line interface: `tudi serve`, `tudi check`, `tudi fixtures`.

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

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ScaleArg {
    Small,
    District,
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
    /// Tile cache budget in MiB (0 disables the cache).
    #[arg(long, default_value_t = 256)]
    pub cache_mb: u64,
    /// Largest tile to emit, in KB (features are simplified harder or
    /// dropped until a tile fits).
    #[arg(long, default_value_t = 500)]
    pub max_tile_kb: usize,
}
