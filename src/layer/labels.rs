//! Label points of a polygon layer (`label_points = true`): one point per
//! feature, inside its polygon, computed once when the layer is built.
//!
//! A map client labels a polygon once per tile piece it receives, so a
//! village cut by three tile edges got four labels at z13. Tiles of such a
//! layer also carry these points as a layer of their own (`{id}.label`,
//! `tiles::render`), each in exactly one tile, which clients label instead.
//!
//! The point is geo's [`InteriorPoint`]: on the polygon's interior, the
//! middle of the widest horizontal run through it, so a concave village
//! (an L or a crescent), whose centroid may lie outside, is still labelled
//! inside. Computed in EPSG:3857, the layer's own coordinates: a label is
//! placed, not measured.

use geo::InteriorPoint;

use super::model::Feature;
use super::shapes::Shapes;

/// The label point of each feature in order, EPSG:3857 (`[NaN, NaN]` for
/// a feature without one: an empty or degenerate geometry).
pub fn label_points(features: &[Feature], shapes: &Shapes) -> Vec<[f64; 2]> {
    features
        .iter()
        .map(|f| {
            shapes
                .to_geometry(f.shape)
                .interior_point()
                .map_or([f64::NAN; 2], |p| [p.x(), p.y()])
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use geo::{Contains, Geometry, Point, polygon};

    use crate::layer::{GeomKind, Layer, LayerDef, NewFeature};

    fn layer(g: Geometry, label_points: bool) -> Layer {
        let text = format!(
            "id = \"v\"\ntitle = \"V\"\ncategory = \"test\"\nsource = \"Cargo.toml\"\n\
             format = \"geojson\"\ncrs = \"EPSG:4326\"\nlabel_points = {label_points}\n"
        );
        let def = LayerDef::from_str(Path::new("Cargo.toml"), &text).unwrap();
        let f = NewFeature::new(1, g, vec![]).unwrap();
        Layer::build(
            def,
            1,
            "h".into(),
            GeomKind::Polygon,
            vec![],
            vec![f],
            vec![],
        )
        .unwrap()
    }

    #[test]
    fn an_l_shaped_polygon_is_labelled_inside_it() {
        // An L whose centroid (about 303, 303) lies outside it.
        let l = polygon![
            (x: 0.0, y: 0.0), (x: 1000.0, y: 0.0), (x: 1000.0, y: 100.0),
            (x: 100.0, y: 100.0), (x: 100.0, y: 1000.0), (x: 0.0, y: 1000.0),
        ];
        let on = layer(Geometry::Polygon(l.clone()), true);
        let labels = on.labels.as_ref().unwrap();
        assert_eq!(labels.len(), 1);
        let p = Point::new(labels[0][0], labels[0][1]);
        assert!(l.contains(&p), "{p:?}");
        assert!(
            !l.contains(&Point::new(303.0, 303.0)),
            "the centroid would not do"
        );
        let off = layer(Geometry::Polygon(l), false);
        assert!(off.labels.is_none(), "only layers that ask for them");
    }
}
