//! tudi (土地): a geospatial tile and land-review server.
//!
//! Dependencies point one way: `http -> {tiles, catalog} -> layer -> crs`.
//! See `ARCHITECTURE.md` for the code map and invariants.

pub mod auth;
pub mod cache;
pub mod cli;
pub mod client;
pub mod crs;
pub mod export;
pub mod fixtures;
pub mod glyphs;
pub mod http;
pub mod ingest;
pub mod layer;
pub mod metrics;
pub mod offline;
pub mod publish;
pub mod report;
pub mod review;
pub mod store;
pub mod styles;
pub mod tiles;
