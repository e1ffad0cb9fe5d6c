//! The TileJSON `vector_layers` entry of a layer: the one description of a
//! source layer's attributes that the server's TileJSON and the metadata of
//! exported archives (`tudi export`) both give.

use serde_json::json;

use crate::layer::Layer;

/// The `vector_layers` entry of `layer`, with the attributes for which
/// `shown` is false left out (masked for the caller).
pub fn vector_layer(layer: &Layer, shown: impl Fn(&str) -> bool) -> serde_json::Value {
    let fields: serde_json::Map<String, serde_json::Value> = layer
        .fields
        .iter()
        .filter(|(n, _)| shown(n))
        .map(|(n, t)| (n.clone(), json!(format!("{t:?}"))))
        .collect();
    let def = &layer.def;
    json!({
        "id": def.id,
        "description": def.description.clone().unwrap_or_else(|| def.title.clone()),
        "minzoom": def.minzoom,
        "maxzoom": def.maxzoom,
        "fields": fields,
    })
}
