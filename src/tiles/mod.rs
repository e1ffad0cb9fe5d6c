//! Vector tiles: tile math, clipping, simplification, MVT encoding.
//!
//! The pipeline for one layer and one tile ([`render_layer`]):
//!
//! 1. Query the layer's R-tree with the tile bounds grown by the buffer and
//!    reject features that are too small to see *by their bounding box*,
//!    before any coordinate is transformed (a z8 tile may touch 100k plots).
//! 2. Per feature: transform to tile units (f64, y down), clip to the
//!    buffered tile square (Sutherland-Hodgman for rings, Liang-Barsky for
//!    lines), simplify (Douglas-Peucker at tile resolution), round to the
//!    integer grid.
//! 3. Polygons are made valid on the integer grid: a cheap exact simplicity
//!    test accepts most small plots as they are; anything else goes through
//!    `i_overlay`'s integer overlay with OGC output. Rings are then oriented
//!    for MVT 2.1 (exterior positive area in y-down tile coordinates).
//! 4. Encode MVT commands and typed, de-duplicated attributes.
//!
//! [`render_tile`] renders several layers into one tile and enforces the size
//! budget by re-rendering with coarser generalization.
//!
//! Module map: [`math`] (tile coordinates), `geom` (transform, clip, simplify,
//! integer predicates), `polygon` (validity on the grid), `encode` (MVT
//! commands and tags), `worker` (the per-feature pipeline), `render` (layers,
//! tiles, thresholds and the size cap), `labels` (the `{id}.label` point
//! layer of a `label_points` polygon layer), `tilejson` (a layer's TileJSON
//! `vector_layers` entries).

mod encode;
mod geom;
mod labels;
pub mod math;
mod polygon;
mod render;
mod tilejson;
mod worker;

#[cfg(test)]
mod tests;

pub use math::TileCoord;
pub use render::{
    LayerStats, MIN_LINE_UNITS, MIN_POLYGON_UNITS, POINT_CELL_UNITS, POINT_THIN_BELOW_MAXZOOM,
    RenderOptions, RenderedLayer, RenderedTile, render_layer, render_tile,
};
pub use tilejson::vector_layers_of;

/// Errors of the tile module: bad tile addresses and bad render options.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    #[error("zoom {z} is out of range: allowed 0..={max}")]
    Zoom { z: u64, max: u8 },
    #[error("tile {axis} = {value} is out of range at zoom {z}: allowed 0..={max}")]
    OutOfRange {
        axis: char,
        value: u64,
        z: u8,
        max: u64,
    },
    #[error("tile {axis} `{text}` is not valid: {reason}")]
    Parse {
        axis: char,
        text: String,
        reason: &'static str,
    },
    #[error("invalid render options: {0}")]
    Options(String),
}
