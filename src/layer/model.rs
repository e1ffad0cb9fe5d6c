//! The in-memory model of one loaded layer version: features in EPSG:3857
//! (Web Mercator metres) with their geometries in one arena
//! ([`Shapes`]), their typed attributes, and the R-tree over them.
//!
//! A [`Layer`] is immutable once built; a new version is a new value that the
//! registry swaps in behind an `Arc`, so readers never see a half-built layer.

use std::sync::Arc;

use geo::{BoundingRect, Geometry, Rect};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};
use serde::Serialize;

use super::attrs::{AttrError, Attrs, AttrsBuilder, ValueRef};
use super::config::LayerDef;
use super::shapes::{ShapeError, ShapeId, Shapes};

/// Why [`Layer::build`] could not build a layer.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Attrs(#[from] AttrError),
    #[error("feature {id}: {source}")]
    Shape { id: u64, source: ShapeError },
}

/// Type of one attribute column, as announced in TileJSON `vector_layers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FieldType {
    String,
    Number,
    Boolean,
}

/// A typed attribute value, owned: as read from a source (strings shared:
/// the reader interns repeated ones). A loaded layer stores its values in
/// an [`Attrs`] and hands out [`ValueRef`]s.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(Arc<str>),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Value {
    pub fn field_type(&self) -> FieldType {
        match self {
            Value::String(_) => FieldType::String,
            Value::Int(_) | Value::Float(_) => FieldType::Number,
            Value::Bool(_) => FieldType::Boolean,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// The geometry family of a layer (a layer holds one family; multi and single
/// forms of it mix freely).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GeomKind {
    Point,
    Line,
    Polygon,
}

impl GeomKind {
    pub fn of(g: &Geometry) -> Option<GeomKind> {
        match g {
            Geometry::Point(_) | Geometry::MultiPoint(_) => Some(GeomKind::Point),
            Geometry::Line(_) | Geometry::LineString(_) | Geometry::MultiLineString(_) => {
                Some(GeomKind::Line)
            }
            Geometry::Polygon(_)
            | Geometry::MultiPolygon(_)
            | Geometry::Rect(_)
            | Geometry::Triangle(_) => Some(GeomKind::Polygon),
            Geometry::GeometryCollection(_) => None,
        }
    }
}

/// One stored feature: id, where its geometry (EPSG:3857 metres) lives in
/// the layer's [`Shapes`] and its row in the layer's attribute store
/// ([`Layer::geometry`], [`Layer::bbox`], [`Layer::prop`] read them). 24 B:
/// the bounding box is the R-tree entry's, the coordinates the arena's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    pub id: u64,
    /// Row of this feature in [`Layer::attrs`].
    pub row: u32,
    /// The geometry in [`Layer::shapes`].
    pub shape: ShapeId,
}

/// A feature before it is stored: id, geometry in EPSG:3857 metres and its
/// attributes as `(field index, value)` pairs (only the allow-listed
/// fields, absent = null). [`Layer::build`] stores a list of them.
#[derive(Debug, Clone)]
pub struct NewFeature {
    pub id: u64,
    pub geometry: Geometry,
    pub props: Vec<(u16, Value)>,
}

impl NewFeature {
    /// `None` for an empty geometry (which a layer cannot store).
    pub fn new(id: u64, geometry: Geometry, props: Vec<(u16, Value)>) -> Option<NewFeature> {
        geometry.bounding_rect()?;
        Some(NewFeature {
            id,
            geometry,
            props,
        })
    }

    /// A stored feature of `layer` with owned copies of its attributes.
    pub fn from_stored(layer: &Layer, f: &Feature) -> NewFeature {
        NewFeature {
            id: f.id,
            geometry: layer.geometry(f),
            props: layer.props(f).map(|(k, v)| (k, v.to_value())).collect(),
        }
    }
}

/// An R-tree entry: the feature's bounding box and its index in `Layer::features`.
pub type IndexEntry = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// Stored features, their geometries and the R-tree over their boxes: a
/// layer without its attributes yet.
#[derive(Debug)]
pub struct Indexed {
    features: Vec<Feature>,
    shapes: Shapes,
    tree: RTree<IndexEntry>,
}

impl Indexed {
    /// Bulk-loads the R-tree over the features' boxes (each `Feature::shape`
    /// an id into `shapes`).
    pub fn new(mut features: Vec<Feature>, mut shapes: Shapes) -> Indexed {
        features.shrink_to_fit();
        shapes.shrink_to_fit();
        let entries: Vec<IndexEntry> = features
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let b = shapes.bbox(f.shape);
                let r = Rectangle::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]);
                GeomWithData::new(r, i as u32)
            })
            .collect();
        let tree = RTree::bulk_load(entries);
        Indexed {
            features,
            shapes,
            tree,
        }
    }
}

/// One loaded, validated, reprojected and indexed layer version.
#[derive(Debug)]
pub struct Layer {
    pub def: LayerDef,
    /// Monotonic version number of this layer (1 for the bootstrap file).
    pub version: u64,
    /// SHA-256 (hex, first 16 chars) of the source bytes: identifies the content.
    pub content_hash: String,
    pub kind: GeomKind,
    /// Attribute columns in allow-list order; [`Attrs`] field indexes
    /// index into this.
    pub fields: Vec<(String, FieldType)>,
    pub features: Vec<Feature>,
    /// The features' geometries (see [`Feature::shape`]).
    pub shapes: Shapes,
    /// The features' attributes (see [`Feature::row`]).
    pub attrs: Attrs,
    pub tree: RTree<IndexEntry>,
    /// Bounds in lon/lat degrees: `[west, south, east, north]`.
    pub bounds: [f64; 4],
    /// Features that were repaired at load (id, reason).
    pub repaired: Vec<(u64, String)>,
    /// Size and full SHA-256 (hex) of the source file as loaded, when the
    /// loader read a file: recording a bootstrap version takes them from
    /// here instead of reading the file a second time.
    pub source_digest: Option<(u64, String)>,
    /// Polygon layers with `label_points`: each feature's label point
    /// (EPSG:3857, by feature index; see `super::labels`).
    pub labels: Option<Vec<[f64; 2]>>,
}

impl Layer {
    /// Builds the layer from features with their attributes: stores the
    /// attributes dictionary-encoded, then as [`Layer::from_parts`]. An
    /// empty geometry is skipped (`NewFeature::new` refuses them); one the
    /// arena cannot hold (a collection, past its size limits) is an error.
    pub fn build(
        def: LayerDef,
        version: u64,
        content_hash: String,
        kind: GeomKind,
        fields: Vec<(String, FieldType)>,
        features: Vec<NewFeature>,
        repaired: Vec<(u64, String)>,
    ) -> Result<Layer, BuildError> {
        let mut attrs = AttrsBuilder::new(fields.len());
        let mut stored = Vec::with_capacity(features.len());
        let mut shapes = Shapes::default();
        for f in features {
            let row = attrs.push_row(f.props.iter().map(|(k, v)| (*k, ValueRef::from(v))))?;
            match shapes.push(&f.geometry) {
                Ok(shape) => stored.push(Feature {
                    id: f.id,
                    row,
                    shape,
                }),
                Err(ShapeError::Empty) => {}
                Err(source) => return Err(BuildError::Shape { id: f.id, source }),
            }
        }
        Ok(Layer::from_parts(
            def,
            version,
            content_hash,
            kind,
            fields,
            stored,
            shapes,
            attrs.finish(),
            repaired,
        ))
    }

    /// Builds the layer from stored features and their attribute store
    /// (each `Feature::row` a row of `attrs`): bulk-loads the R-tree over
    /// the features' boxes.
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        def: LayerDef,
        version: u64,
        content_hash: String,
        kind: GeomKind,
        fields: Vec<(String, FieldType)>,
        features: Vec<Feature>,
        shapes: Shapes,
        attrs: Attrs,
        repaired: Vec<(u64, String)>,
    ) -> Layer {
        let indexed = Indexed::new(features, shapes);
        Layer::from_indexed(
            def,
            version,
            content_hash,
            kind,
            fields,
            indexed,
            attrs,
            repaired,
        )
    }

    /// [`Layer::from_parts`] with the features already indexed (the loader
    /// builds the R-tree while the attribute store is still being built).
    #[allow(clippy::too_many_arguments)]
    pub fn from_indexed(
        def: LayerDef,
        version: u64,
        content_hash: String,
        kind: GeomKind,
        fields: Vec<(String, FieldType)>,
        indexed: Indexed,
        attrs: Attrs,
        repaired: Vec<(u64, String)>,
    ) -> Layer {
        let Indexed {
            features,
            shapes,
            tree,
        } = indexed;
        let bounds = mercator_bounds_to_lonlat(&tree);
        if def.label_points && kind != GeomKind::Polygon {
            tracing::warn!(
                layer = %def.id,
                "label_points is for polygon layers; this one has {kind:?} features: no label layer"
            );
        }
        let labels = (def.label_points && kind == GeomKind::Polygon)
            .then(|| super::labels::label_points(&features, &shapes));
        Layer {
            def,
            version,
            content_hash,
            kind,
            fields,
            features,
            shapes,
            attrs,
            tree,
            bounds,
            repaired,
            source_digest: None,
            labels,
        }
    }

    /// Features whose bounding box intersects the given EPSG:3857 box.
    pub fn query(&self, bbox: Rect) -> impl Iterator<Item = &Feature> {
        let env = AABB::from_corners([bbox.min().x, bbox.min().y], [bbox.max().x, bbox.max().y]);
        self.tree
            .locate_in_envelope_intersecting(&env)
            .map(|e| &self.features[e.data as usize])
    }

    /// The geometry of feature `f` as geo's type (an owned copy; the tile
    /// path reads the arena's borrowed views instead).
    pub fn geometry(&self, f: &Feature) -> Geometry {
        self.shapes.to_geometry(f.shape)
    }

    /// The bounding box of feature `f`, computed from its coordinates.
    pub fn bbox(&self, f: &Feature) -> Rect {
        self.shapes.bbox(f.shape)
    }

    /// The value of attribute `field` of feature `f` (`None`: absent).
    pub fn prop(&self, f: &Feature, field: u16) -> Option<ValueRef<'_>> {
        self.attrs.get(f.row, field)
    }

    /// The attributes of feature `f` as `(field index, value)` in field
    /// order, absent ones skipped.
    pub fn props(&self, f: &Feature) -> impl Iterator<Item = (u16, ValueRef<'_>)> + '_ {
        self.attrs.row(f.row)
    }

    pub fn field_index(&self, name: &str) -> Option<u16> {
        self.fields
            .iter()
            .position(|(n, _)| n == name)
            .map(|i| i as u16)
    }

    /// Number of stored vertices.
    /// Number of stored vertices, counted as geo counts them (a ring's
    /// closing coordinate included, though the arena implies it).
    pub fn vertex_count(&self) -> usize {
        self.features
            .iter()
            .map(|f| self.shapes.vertex_count(f.shape))
            .sum()
    }

    /// Approximate resident bytes of this layer (geometry, attributes, index).
    pub fn memory_bytes(&self) -> usize {
        let coords = self.shapes.memory_bytes();
        let feats = self.features.capacity() * std::mem::size_of::<Feature>();
        let props = self.attrs.memory_bytes();
        // rstar stores each leaf entry plus about one parent node per ~6 leaves.
        let tree = self.features.len() * std::mem::size_of::<IndexEntry>() * 7 / 6;
        let labels = self.labels.as_ref().map_or(0, |l| l.capacity() * 16);
        coords + feats + props + tree + labels
    }
}

fn mercator_bounds_to_lonlat(tree: &RTree<IndexEntry>) -> [f64; 4] {
    if tree.size() == 0 {
        return [-180.0, -85.051_128_779_806_6, 180.0, 85.051_128_779_806_6];
    }
    let env = tree.root().envelope();
    let (lo, hi) = (env.lower(), env.upper());
    let (w, s) = crate::crs::mercator_to_lonlat(lo[0], lo[1]);
    let (e, n) = crate::crs::mercator_to_lonlat(hi[0], hi[1]);
    [w, s, e, n]
}

impl Layer {
    /// The version tag carried in tile URLs: `{version}.{content hash}`. A
    /// tile URL with the current tag never changes content, so it is served
    /// as immutable.
    pub fn version_tag(&self) -> String {
        format!("{}.{}", self.version, self.content_hash)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use geo::{GeometryCollection, point, polygon};
    use std::path::Path;

    fn def() -> LayerDef {
        let text = "id = \"t\"\ntitle = \"T\"\ncategory = \"test\"\nsource = \"Cargo.toml\"\n\
                    format = \"geojson\"\ncrs = \"EPSG:4326\"\n";
        LayerDef::from_str(Path::new("Cargo.toml"), text).unwrap()
    }

    fn build(features: Vec<NewFeature>) -> Result<Layer, BuildError> {
        Layer::build(
            def(),
            1,
            "h".into(),
            GeomKind::Polygon,
            vec![],
            features,
            vec![],
        )
    }

    #[test]
    fn build_stores_geometries_and_refuses_what_the_arena_cannot_hold() {
        let square =
            Geometry::Polygon(polygon![(x: 0.0, y: 0.0), (x: 10.0, y: 0.0), (x: 10.0, y: 10.0)]);
        let layer = build(vec![NewFeature::new(7, square.clone(), vec![]).unwrap()]).unwrap();
        assert_eq!(layer.features.len(), 1);
        assert_eq!(layer.geometry(&layer.features[0]), square);
        assert_eq!(layer.vertex_count(), 4);
        let collection = Geometry::GeometryCollection(GeometryCollection(vec![Geometry::Point(
            point!(x: 1.0, y: 1.0),
        )]));
        let err = build(vec![
            NewFeature::new(7, square, vec![]).unwrap(),
            NewFeature::new(8, collection, vec![]).unwrap(),
        ])
        .unwrap_err();
        assert!(
            matches!(
                err,
                BuildError::Shape {
                    id: 8,
                    source: ShapeError::Collection
                }
            ),
            "{err}"
        );
    }
}
