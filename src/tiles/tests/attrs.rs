//! A tile's keys, values and tags, built from the layer's dictionary-encoded
//! attributes, against a reference: the encoding the encoder produced when
//! features owned their `(field, Value)` pairs (values de-duplicated by
//! content, in first-use order; keys in first-use order).

use std::collections::HashMap;

use geozero::mvt::{Message, Tile, tile};

use super::{Frame, check_tile, layer, props};
use crate::layer::{GeomKind, NewFeature, Value};
use crate::tiles::{RenderOptions, TileCoord, render_tile};

fn z14() -> TileCoord {
    TileCoord::new(14, 13363, 7150).unwrap()
}

/// Identity of a value in the reference: floats by their bits.
#[derive(PartialEq, Eq, Hash)]
enum Key {
    Str(String),
    Int(i64),
    Float(u64),
    Bool(bool),
}

fn reference_value(v: &Value) -> (Key, tile::Value) {
    let mut t = tile::Value::default();
    let k = match v {
        Value::String(s) => {
            t.string_value = Some(s.to_string());
            Key::Str(s.to_string())
        }
        Value::Int(i) => {
            if *i >= 0 {
                t.int_value = Some(*i);
            } else {
                t.sint_value = Some(*i);
            }
            Key::Int(*i)
        }
        Value::Float(x) => {
            t.double_value = Some(*x);
            Key::Float(x.to_bits())
        }
        Value::Bool(b) => {
            t.bool_value = Some(*b);
            Key::Bool(*b)
        }
    };
    (k, t)
}

/// The reference keys, values and per-feature tags of the given features
/// (each with its props sorted by field), leaving out `hidden` fields.
fn reference(
    feats: &[&NewFeature],
    names: &[&str],
    hidden: &[u16],
) -> (Vec<String>, Vec<tile::Value>, Vec<Vec<u32>>) {
    let (mut keys, mut values, mut tags) = (Vec::new(), Vec::new(), Vec::new());
    let mut key_of: HashMap<u16, u32> = HashMap::new();
    let mut value_of: HashMap<Key, u32> = HashMap::new();
    for f in feats {
        let mut t = Vec::new();
        for (field, v) in &f.props {
            if hidden.contains(field) || usize::from(*field) >= names.len() {
                continue;
            }
            let k = *key_of.entry(*field).or_insert_with(|| {
                keys.push(names[usize::from(*field)].to_string());
                keys.len() as u32 - 1
            });
            let (vk, tv) = reference_value(v);
            let vi = *value_of.entry(vk).or_insert_with(|| {
                values.push(tv);
                values.len() as u32 - 1
            });
            t.extend([k, vi]);
        }
        tags.push(t);
    }
    (keys, values, tags)
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

/// Plots with repeated and unique strings, integers of both signs, floats
/// that equal integers, -0.0 and 0.0, booleans, and absent attributes.
fn features(f: &Frame) -> Vec<NewFeature> {
    let classes = ["耕地", "林地", "宅基地"];
    (0..60u64)
        .map(|i| {
            let mut props = vec![
                (0u16, s(classes[i as usize % 3])),
                (1, Value::Int(i as i64 % 5 - 2)),
                (2, Value::Float((i % 4) as f64 * 0.5)),
                (3, Value::Bool(i % 2 == 0)),
            ];
            if i % 7 == 0 {
                props[0] = (0, s(&format!("unique-{i}")));
            }
            if i % 9 == 0 {
                // The same text as another field's value.
                props[1] = (1, s("林地"));
            }
            if i % 11 == 0 {
                props[2] = (2, Value::Float(-0.0));
            }
            if i % 5 == 0 {
                props.remove(3);
            }
            let (x, y) = ((i % 10) as f64 * 400.0, (i / 10) as f64 * 600.0);
            let g = f.rect(x, y, x + 200.0, y + 300.0);
            NewFeature::new(i + 1, g.into(), props).unwrap()
        })
        .collect()
}

fn check(hidden: &[u16]) {
    let f = Frame::new(z14());
    let feats = features(&f);
    let by_id: HashMap<u64, NewFeature> = feats.iter().map(|f| (f.id, f.clone())).collect();
    let l = layer("plots", "", GeomKind::Polygon, feats);
    let opts = RenderOptions {
        hidden: hidden.iter().map(|h| ("plots".to_string(), *h)).collect(),
        ..RenderOptions::default()
    };
    let r = render_tile(&[&l], z14(), &opts).unwrap();
    assert_eq!(r.features, 60);
    check_tile(&r.bytes, 64);
    let tile = Tile::decode(r.bytes.as_slice()).unwrap();
    let got = &tile.layers[0];
    let emitted: Vec<&NewFeature> = got
        .features
        .iter()
        .map(|t| &by_id[&t.id.unwrap()])
        .collect();
    let names = ["name", "count", "ratio", "ok"];
    let (keys, values, tags) = reference(&emitted, &names, hidden);
    assert_eq!(got.keys, keys);
    assert_eq!(got.values.len(), values.len());
    for (g, w) in got.values.iter().zip(&values) {
        assert_eq!(g, w);
        assert_eq!(
            g.double_value.map(f64::to_bits),
            w.double_value.map(f64::to_bits)
        );
    }
    let got_tags: Vec<Vec<u32>> = got.features.iter().map(|f| f.tags.clone()).collect();
    assert_eq!(got_tags, tags);
}

#[test]
fn values_table_matches_the_reference_encoding() {
    check(&[]);
}

#[test]
fn masked_fields_are_left_out_as_before() {
    check(&[0]);
    check(&[1, 3]);
}

#[test]
fn decoded_attributes_are_the_stored_ones() {
    let f = Frame::new(z14());
    let feats = features(&f);
    let by_id: HashMap<u64, NewFeature> = feats.iter().map(|f| (f.id, f.clone())).collect();
    let l = layer("plots", "", GeomKind::Polygon, feats);
    let r = render_tile(&[&l], z14(), &RenderOptions::default()).unwrap();
    let decoded = check_tile(&r.bytes, 64);
    use mvt_reader::feature::Value as MV;
    for d in &decoded[0] {
        let want = &by_id[&d.id.unwrap()];
        let got = props(d);
        assert_eq!(got.len(), want.props.len());
        for (k, v) in &want.props {
            let name = ["name", "count", "ratio", "ok"][usize::from(*k)];
            let expect = match v {
                Value::String(s) => MV::String(s.to_string()),
                Value::Int(i) if *i >= 0 => MV::Int(*i),
                Value::Int(i) => MV::SInt(*i),
                Value::Float(x) => MV::Double(*x),
                Value::Bool(b) => MV::Bool(*b),
            };
            assert_eq!(got[name], expect, "feature {:?} {name}", d.id);
        }
    }
}
