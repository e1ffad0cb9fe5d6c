//! tudi (土地): a geospatial tile and land-review server.
//!
//! Dependencies point one way: `http -> {tiles, catalog} -> layer -> crs`.
//! See `ARCHITECTURE.md` for the code map and invariants.

pub mod crs;
pub mod fixtures;
pub mod layer;
pub mod tiles;
