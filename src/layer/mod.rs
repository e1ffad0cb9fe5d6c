//! Layers: definitions (`layers/*.toml`), reading and validation of source
//! files, loading (reprojection, indexing) and the immutable in-memory model.

pub mod attrs;
pub mod config;
pub mod labels;
pub mod load;
mod load_fgb;
pub mod model;
pub mod read;
pub mod registry;
pub mod rows;
pub mod shapes;
pub mod validate;
pub mod values;

pub use attrs::{AttrError, Attrs, AttrsBuilder, ValueRef};
pub use config::{Access, ConfigError, InvalidPolicy, LayerDef, SourceFormat};
pub use load::{LoadError, LoadReport, load_all, load_layer};
pub use model::{BuildError, Feature, FieldType, GeomKind, Indexed, Layer, NewFeature, Value};
pub use registry::Registry;
pub use shapes::{PolygonRef, ShapeError, ShapeId, Shapes};
