//! Layers: definitions (`layers/*.toml`), loading and validation of source
//! files, and the immutable in-memory model with its R-tree.

pub mod config;
pub mod model;

pub use config::{Access, ConfigError, InvalidPolicy, LayerDef, SourceFormat};
pub use model::{Feature, FieldType, GeomKind, Layer, Value};
