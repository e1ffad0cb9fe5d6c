//! The report's map picture, drawn server-side as SVG from a stored review
//! record: the plot, the conflict geometries (overlaps, parts outside a
//! boundary, nearest-distance lines with their length), a scale bar and a
//! north arrow. Drawn in the plot's Gauss-Krüger zone, so metres are metres.

use std::fmt::Write;

use serde_json::Value;

use super::esc;
use crate::crs::{gk_for_lon, lonlat_to_gk};

pub const WIDTH: f64 = 640.0;
pub const HEIGHT: f64 = 480.0;
const MARGIN: f64 = 36.0;

type Ring = Vec<(f64, f64)>;

/// Geometry parts in lon/lat: rings (polygons) and paths (lines).
#[derive(Default)]
struct Shapes {
    polygons: Vec<Vec<Ring>>,
    lines: Vec<Ring>,
}

fn positions(v: &Value) -> Ring {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn collect(g: &Value, out: &mut Shapes) {
    let c = &g["coordinates"];
    match g["type"].as_str().unwrap_or("") {
        "Polygon" => out.polygons.push(
            c.as_array()
                .map(|r| r.iter().map(positions).collect())
                .unwrap_or_default(),
        ),
        "MultiPolygon" => {
            for p in c.as_array().into_iter().flatten() {
                out.polygons.push(
                    p.as_array()
                        .map(|r| r.iter().map(positions).collect())
                        .unwrap_or_default(),
                );
            }
        }
        "LineString" => out.lines.push(positions(c)),
        "MultiLineString" => {
            for l in c.as_array().into_iter().flatten() {
                out.lines.push(positions(l));
            }
        }
        "GeometryCollection" => {
            for g in g["geometries"].as_array().into_iter().flatten() {
                collect(g, out);
            }
        }
        _ => {}
    }
}

/// A scale-bar length: 1, 2 or 5 times a power of ten, near a fifth of the view.
fn nice_length(view_m: f64) -> f64 {
    let target = (view_m / 5.0).max(1.0);
    let p = 10f64.powf(target.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .rfind(|l| *l <= target)
        .unwrap_or(p)
}

/// Renders the map picture of a review record.
pub fn render(record: &Value) -> String {
    let mut plot = Shapes::default();
    collect(&record["plot_lonlat"], &mut plot);
    let mut layers: Vec<(String, Shapes)> = Vec::new();
    for f in record["findings"].as_array().into_iter().flatten() {
        let status = f["status"].as_str().unwrap_or("pass").to_string();
        for g in f["conflicts"].as_array().into_iter().flatten() {
            let mut s = Shapes::default();
            collect(g, &mut s);
            layers.push((status.clone(), s));
        }
    }
    let all = plot
        .polygons
        .iter()
        .flatten()
        .flatten()
        .chain(
            layers
                .iter()
                .flat_map(|(_, s)| s.polygons.iter().flatten().flatten()),
        )
        .chain(layers.iter().flat_map(|(_, s)| s.lines.iter().flatten()));
    let pts: Vec<(f64, f64)> = all
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let lon0 = pts.first().map_or(113.0, |p| p.0);
    let cm = gk_for_lon(lon0).central_meridian().unwrap_or(114.0);
    let proj = |(lon, lat): (f64, f64)| lonlat_to_gk(lon, lat, cm);
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for p in &pts {
        let (x, y) = proj(*p);
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}"><text x="20" y="40">no geometry</text></svg>"#
        );
    }
    // Pad to at least 60 m and 15% around the content.
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let span = ((x1 - x0).max(y1 - y0) * 1.3).max(60.0);
    let scale = ((WIDTH - 2.0 * MARGIN) / span).min((HEIGHT - 2.0 * MARGIN) / span);
    let to_px = |p: (f64, f64)| {
        let (x, y) = proj(p);
        (
            WIDTH / 2.0 + (x - cx) * scale,
            HEIGHT / 2.0 - (y - cy) * scale,
        )
    };
    let path = |rings: &[Ring]| -> String {
        let mut d = String::new();
        for r in rings {
            for (i, p) in r.iter().enumerate() {
                let (x, y) = to_px(*p);
                let _ = write!(d, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
            }
            d.push('Z');
        }
        d
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="#fbfbf8" stroke="#999"/>"##
    );
    let colour = |s: &str| match s {
        "fail" => "#d7301f",
        "manual" => "#f28e2b",
        _ => "#4e79a7",
    };
    for (status, s) in &layers {
        for p in &s.polygons {
            let _ = write!(
                svg,
                r#"<path d="{}" fill="{}" fill-opacity="0.45" stroke="{}" fill-rule="evenodd"/>"#,
                path(p),
                colour(status),
                colour(status)
            );
        }
    }
    for p in &plot.polygons {
        let _ = write!(
            svg,
            r##"<path d="{}" fill="#2c7fb8" fill-opacity="0.15" stroke="#08519c" stroke-width="2" fill-rule="evenodd"/>"##,
            path(p)
        );
    }
    for (status, s) in &layers {
        for l in &s.lines {
            if l.len() < 2 {
                continue;
            }
            let pts: Vec<(f64, f64)> = l.iter().map(|p| to_px(*p)).collect();
            let d: String = pts
                .iter()
                .enumerate()
                .map(|(i, (x, y))| format!("{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" }))
                .collect();
            let len: f64 = l
                .windows(2)
                .map(|w| {
                    let (a, b) = (proj(w[0]), proj(w[1]));
                    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
                })
                .sum();
            let (mx, my) = (
                (pts[0].0 + pts[pts.len() - 1].0) / 2.0,
                (pts[0].1 + pts[pts.len() - 1].1) / 2.0,
            );
            let _ = write!(
                svg,
                r#"<path d="{d}" stroke="{c}" stroke-width="1.5" stroke-dasharray="5,3" fill="none"/><text x="{:.1}" y="{:.1}" fill="{c}">{}</text>"#,
                mx + 4.0,
                my - 4.0,
                esc(&format!("{len:.1} m")),
                c = colour(status)
            );
        }
    }
    // Scale bar.
    let bar_m = nice_length(span);
    let bar_px = bar_m * scale;
    let (bx, by) = (MARGIN, HEIGHT - 16.0);
    let _ = write!(
        svg,
        r##"<g stroke="#222" stroke-width="2"><line x1="{bx}" y1="{by}" x2="{:.1}" y2="{by}"/><line x1="{bx}" y1="{:.1}" x2="{bx}" y2="{:.1}"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/></g><text x="{bx}" y="{:.1}">{} m</text>"##,
        bx + bar_px,
        by - 5.0,
        by + 1.0,
        bx + bar_px,
        by - 5.0,
        bx + bar_px,
        by + 1.0,
        by - 8.0,
        bar_m
    );
    // North arrow (grid north of the Gauss-Krüger zone; the convergence
    // over a plot is far below a degree).
    let (nx, ny) = (WIDTH - 30.0, 50.0);
    let _ = write!(
        svg,
        r##"<g><polygon points="{nx},{:.1} {:.1},{ny} {nx},{:.1} {:.1},{ny}" fill="#222"/><text x="{:.1}" y="{:.1}" font-weight="bold">N 北</text></g>"##,
        ny - 28.0,
        nx + 8.0,
        ny - 8.0,
        nx - 8.0,
        nx - 14.0,
        ny + 16.0
    );
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn draws_plot_conflicts_scale_and_north() {
        let rec = json!({
            "plot_lonlat": {"type": "MultiPolygon", "coordinates": [[[[113.0, 23.0], [113.0001, 23.0], [113.0001, 23.0001], [113.0, 23.0001], [113.0, 23.0]]]]},
            "findings": [{"status": "fail", "conflicts": [
                {"type": "LineString", "coordinates": [[113.0001, 23.00005], [113.0002, 23.00005]]},
                {"type": "Polygon", "coordinates": [[[113.00005, 23.0], [113.0001, 23.0], [113.0001, 23.00005], [113.00005, 23.0]]]}
            ]}]
        });
        let svg = render(&rec);
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("#08519c"), "plot drawn");
        assert!(svg.contains("#d7301f"), "conflict drawn in fail colour");
        assert!(svg.contains(" m</text>"), "distance and scale labels");
        assert!(svg.contains("N 北"));
        // 0.0001 degree of longitude at 23N on the ellipsoid is 10.25 m.
        assert!(svg.contains("10.3 m"), "{svg}");
    }

    #[test]
    fn nice_lengths() {
        assert_eq!(nice_length(60.0), 10.0);
        assert_eq!(nice_length(130.0), 20.0);
        assert_eq!(nice_length(300.0), 50.0);
    }
}
