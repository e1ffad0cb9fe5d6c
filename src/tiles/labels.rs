//! The label point layer of a `label_points` polygon layer in one tile,
//! `{id}.label`: each polygon's label point (`layer::labels`) in the one
//! tile that contains it, with the polygon's id and attributes.
//!
//! A map client labels every piece of a polygon it receives, so a village
//! cut by tile edges was labelled once per tile it touched (four times
//! where two edges cross it). Styles label such layers from `{id}.label`
//! instead (`styles/*.json`).

use geo::coord;
use geozero::mvt::tile;
use i_overlay::i_float::int::point::IntPoint;
use rstar::AABB;

use super::TileCoord;
use super::encode::{GeometryWriter, LayerBuilder};
use super::worker::Params;
use crate::layer::Layer;

/// The encoded `{id}.label` layer of `layer` in `tile`, without the fields
/// in `hide`; `None` when the layer has no label points or none falls in
/// the tile.
///
/// A point belongs to the tile whose half-open square `[0, extent)²`
/// holds it, with no buffer: across the tiles of one zoom each polygon is
/// labelled once, however many tiles it spans. A polygon too small to draw
/// at this zoom (the polygon layer's `drop_small` box test) gets no label.
pub(super) fn render_labels(
    layer: &Layer,
    tile: TileCoord,
    extent: u32,
    coarsen: u32,
    hide: &[u16],
) -> Option<Vec<u8>> {
    let labels = layer.labels.as_ref()?;
    let name = layer.def.label_layer()?;
    if tile.z < layer.def.minzoom {
        return None;
    }
    let params = Params::new(layer, tile, extent, 0, coarsen);
    let b = params.buffered;
    let env = AABB::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]);
    let (k, min) = (params.t.k, params.min_polygon);
    let mut hits: Vec<u32> = layer
        .tree
        .locate_in_envelope_intersecting(&env)
        .filter(|e| {
            let (lo, hi) = (e.geom().lower(), e.geom().upper());
            (hi[0] - lo[0]) * k >= min || (hi[1] - lo[1]) * k >= min
        })
        .map(|e| e.data)
        .collect();
    // Layer order, as the polygons: deterministic output.
    hits.sort_unstable();
    let size = f64::from(extent);
    let mut builder = LayerBuilder::new(&name, extent, layer.fields.len());
    let mut writer = GeometryWriter::default();
    for i in hits {
        let (Some(f), Some(&[x, y])) = (layer.features.get(i as usize), labels.get(i as usize))
        else {
            continue;
        };
        let q = params.t.apply(coord! { x: x, y: y });
        // Also false for a feature without a label point (NaN).
        if !((0.0..size).contains(&q[0]) && (0.0..size).contains(&q[1])) {
            continue;
        }
        writer.reset();
        writer.points(&[IntPoint::new(q[0].round() as i32, q[1].round() as i32)]);
        let props = layer
            .attrs
            .row_ids(f.row)
            .filter(|(field, _)| !hide.contains(field));
        builder.add(
            f.id,
            tile::GeomType::Point,
            &writer.cmds,
            props,
            &layer.attrs,
            &layer.fields,
        );
    }
    (builder.len() > 0).then(|| builder.finish())
}
