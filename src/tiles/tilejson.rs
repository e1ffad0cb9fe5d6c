//! The TileJSON `vector_layers` entries of a layer: the one description of
//! a source layer's attributes that the server's TileJSON and the metadata
//! of exported archives (`tudi export`) both give.

use serde_json::json;

use crate::layer::Layer;

/// The `vector_layers` entries of `layer`: its own and, for a polygon
/// layer with label points, its `{id}.label` point layer (same
/// attributes), with the attributes for which `shown` is false left out
/// (masked for the caller).
pub fn vector_layers_of(layer: &Layer, shown: impl Fn(&str) -> bool) -> Vec<serde_json::Value> {
    let fields: serde_json::Map<String, serde_json::Value> = layer
        .fields
        .iter()
        .filter(|(n, _)| shown(n))
        .map(|(n, t)| (n.clone(), json!(format!("{t:?}"))))
        .collect();
    let def = &layer.def;
    let description = def.description.clone().unwrap_or_else(|| def.title.clone());
    let mut out = vec![json!({
        "id": def.id,
        "description": description,
        "minzoom": def.minzoom,
        "maxzoom": def.maxzoom,
        "fields": fields,
    })];
    if let (Some(name), Some(_)) = (def.label_layer(), &layer.labels) {
        out.push(json!({
            "id": name,
            "description": format!("Label points of {}: one per polygon, in one tile per zoom", def.id),
            "minzoom": def.minzoom,
            "maxzoom": def.maxzoom,
            "fields": fields,
        }));
    }
    out
}
