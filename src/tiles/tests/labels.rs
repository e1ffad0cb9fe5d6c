//! The `{id}.label` point layer of `label_points` polygon layers.

use geo::{Contains, Point};
use geozero::mvt::{Message, Tile, tile};

use super::{Frame, def, feature};
use crate::layer::{FieldType, GeomKind, Layer, NewFeature, Value};
use crate::tiles::{RenderOptions, TileCoord, render_tile};

/// A concave village (a U open to the north) straddling the corner that
/// tiles (x, y), (x+1, y), (x, y+1) and (x+1, y+1) of zoom 13 share.
fn village(label_points: bool) -> (Layer, geo::Polygon, TileCoord) {
    let t = TileCoord::new(13, 6670, 3550).unwrap();
    let f = Frame::new(t);
    let u = f.poly(&[
        (2500.0, 2800.0),
        (6000.0, 2800.0),
        (6000.0, 6500.0),
        (5200.0, 6500.0),
        (5200.0, 3600.0),
        (3300.0, 3600.0),
        (3300.0, 6500.0),
        (2500.0, 6500.0),
    ]);
    let props = vec![(0, Value::String("大沥村".into())), (1, Value::Int(7))];
    let other = feature(2, f.rect(100.0, 100.0, 900.0, 900.0));
    let features = vec![NewFeature::new(1, u.clone().into(), props).unwrap(), other];
    let extra = format!("label_points = {label_points}");
    let fields = vec![
        ("name".to_string(), FieldType::String),
        ("n".to_string(), FieldType::Number),
    ];
    let l = Layer::build(
        def("v", &extra),
        1,
        "h".into(),
        GeomKind::Polygon,
        fields,
        features,
        vec![],
    )
    .unwrap();
    (l, u, t)
}

/// Every tile of zoom 13 from (x-1, y-1) to (x+2, y+2): their layers.
fn tiles(l: &Layer, t: TileCoord, opts: &RenderOptions) -> Vec<(TileCoord, Vec<tile::Layer>)> {
    let mut out = Vec::new();
    for dx in 0..4 {
        for dy in 0..4 {
            let c = TileCoord::new(13, u64::from(t.x) + dx - 1, u64::from(t.y) + dy - 1).unwrap();
            let bytes = render_tile(&[l], c, opts).unwrap().bytes;
            out.push((c, Tile::decode(&bytes[..]).unwrap().layers));
        }
    }
    out
}

#[test]
fn a_polygon_over_four_tiles_is_labelled_once_inside_it() {
    let (l, u, t) = village(true);
    let all = tiles(&l, t, &RenderOptions::default());
    let pieces = all
        .iter()
        .filter(|(_, ls)| {
            ls.iter()
                .any(|x| x.name == "v" && x.features.iter().any(|f| f.id == Some(1)))
        })
        .count();
    assert_eq!(pieces, 4, "the polygon itself is in the four tiles");
    let labels: Vec<_> = all
        .iter()
        .flat_map(|(c, ls)| {
            ls.iter()
                .filter(|x| x.name == "v.label")
                .map(move |x| (*c, x))
        })
        .collect();
    let points: Vec<_> = labels
        .iter()
        .flat_map(|(c, x)| x.features.iter().map(move |f| (*c, *x, f)))
        .collect();
    // The small square of feature 2 is labelled too, in its own tile.
    assert_eq!(points.len(), 2, "one label per polygon: {labels:?}");
    let (c, layer, f) = points.iter().find(|(_, _, f)| f.id == Some(1)).unwrap();
    assert_eq!(f.r#type, Some(tile::GeomType::Point as i32));
    // MoveTo(1) x y: the point in its tile's units.
    assert_eq!(f.geometry.len(), 3);
    let unzig = |v: u32| ((v >> 1) as i32) ^ -((v & 1) as i32);
    let (px, py) = (unzig(f.geometry[1]), unzig(f.geometry[2]));
    assert!(
        (0..=4096).contains(&px) && (0..=4096).contains(&py),
        "{px} {py}"
    );
    let m = Frame::new(*c).at(f64::from(px), f64::from(py));
    assert!(
        u.contains(&Point::from(m)),
        "label at {m:?} is outside the U"
    );
    // Attributes as on the polygon.
    let tags: Vec<(String, String)> = f
        .tags
        .chunks(2)
        .map(|p| {
            let v = &layer.values[p[1] as usize];
            let v = v
                .string_value
                .clone()
                .or(v.int_value.map(|i| i.to_string()))
                .unwrap();
            (layer.keys[p[0] as usize].clone(), v)
        })
        .collect();
    assert_eq!(
        tags,
        vec![("name".into(), "大沥村".into()), ("n".into(), "7".into())]
    );
}

#[test]
fn labels_follow_the_mask_and_the_setting() {
    let (l, _, t) = village(true);
    let masked = RenderOptions {
        hidden: vec![("v".into(), 0)],
        ..RenderOptions::default()
    };
    let keys: Vec<String> = tiles(&l, t, &masked)
        .into_iter()
        .flat_map(|(_, ls)| ls.into_iter().filter(|x| x.name == "v.label"))
        .flat_map(|x| x.keys)
        .collect();
    assert_eq!(
        keys,
        vec!["n".to_string()],
        "the hidden field is not in the labels"
    );
    let (off, _, t) = village(false);
    for (_, ls) in tiles(&off, t, &RenderOptions::default()) {
        assert!(
            ls.iter().all(|x| x.name == "v"),
            "no label layer unless asked"
        );
    }
}
