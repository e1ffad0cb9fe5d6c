//! Signed distance field of a rasterised glyph, computed the way MapLibre's
//! own TinySDF does for locally drawn glyphs (a Felzenszwalb–Huttenlocher
//! Euclidean distance transform of the anti-aliased coverage), so server and
//! local glyphs look alike: radius 8 px, cutoff 0.25, 3 px border.

/// Pixels of border MapLibre expects around every glyph bitmap
/// (`GLYPH_PBF_BORDER`).
pub const BORDER: usize = 3;
/// Distance (px) mapped onto the 0..255 range.
const RADIUS: f64 = 8.0;
/// Where the edge sits in that range (0.25 -> value 191).
const CUTOFF: f64 = 0.25;
const INF: f64 = 1e20;

/// `coverage` is `width * height` alpha in 0..=255 (row-major, no border).
/// Returns `(width + 2 BORDER) * (height + 2 BORDER)` SDF values.
pub fn sdf(coverage: &[u8], width: usize, height: usize) -> Vec<u8> {
    let w = width + 2 * BORDER;
    let h = height + 2 * BORDER;
    let n = w * h;
    // Outside the glyph (the border) is fully "out".
    let mut outer = vec![INF; n];
    let mut inner = vec![0.0; n];
    for y in 0..height {
        for x in 0..width {
            let a = f64::from(coverage.get(y * width + x).copied().unwrap_or(0)) / 255.0;
            let j = (y + BORDER) * w + x + BORDER;
            if a >= 1.0 {
                outer[j] = 0.0;
                inner[j] = INF;
            } else if a <= 0.0 {
                outer[j] = INF;
                inner[j] = 0.0;
            } else {
                // Sub-pixel edge: the distance to the 0.5 iso-line, squared.
                outer[j] = (0.5 - a).max(0.0).powi(2);
                inner[j] = (a - 0.5).max(0.0).powi(2);
            }
        }
    }
    edt(&mut outer, w, h);
    edt(&mut inner, w, h);
    outer
        .iter()
        .zip(&inner)
        .map(|(o, i)| {
            let d = o.sqrt() - i.sqrt();
            (255.0 - 255.0 * (d / RADIUS + CUTOFF))
                .round()
                .clamp(0.0, 255.0) as u8
        })
        .collect()
}

/// 2-D squared Euclidean distance transform, in place: columns, then rows.
fn edt(grid: &mut [f64], w: usize, h: usize) {
    let len = w.max(h);
    let mut f = vec![0.0; len];
    let mut v = vec![0usize; len];
    let mut z = vec![0.0; len + 1];
    let mut d = vec![0.0; len];
    for x in 0..w {
        for y in 0..h {
            f[y] = grid[y * w + x];
        }
        edt1d(&f[..h], &mut d[..h], &mut v, &mut z);
        for y in 0..h {
            grid[y * w + x] = d[y];
        }
    }
    for y in 0..h {
        f[..w].copy_from_slice(&grid[y * w..(y + 1) * w]);
        edt1d(&f[..w], &mut d[..w], &mut v, &mut z);
        grid[y * w..(y + 1) * w].copy_from_slice(&d[..w]);
    }
}

/// 1-D squared distance transform of `f` into `d` (lower envelope of
/// parabolas); `v` and `z` are scratch of at least `f.len()` and `+1`.
fn edt1d(f: &[f64], d: &mut [f64], v: &mut [usize], z: &mut [f64]) {
    let n = f.len();
    if n == 0 {
        return;
    }
    let mut k = 0usize;
    v[0] = 0;
    z[0] = -INF;
    z[1] = INF;
    for q in 1..n {
        let fq = f[q] + (q * q) as f64;
        loop {
            let r = v[k];
            let s = (fq - f[r] - (r * r) as f64) / (2.0 * (q as f64 - r as f64));
            if s <= z[k] && k > 0 {
                k -= 1;
                continue;
            }
            if s <= z[k] {
                // k == 0: the new parabola replaces the first one.
                v[0] = q;
                z[0] = -INF;
                z[1] = INF;
                break;
            }
            k += 1;
            v[k] = q;
            z[k] = s;
            z[k + 1] = INF;
            break;
        }
    }
    k = 0;
    for (q, out) in d.iter_mut().enumerate() {
        while z[k + 1] < q as f64 {
            k += 1;
        }
        let r = v[k];
        let dq = q as f64 - r as f64;
        *out = dq * dq + f[r];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_is_bright_outside_dark_edge_near_cutoff() {
        // A 10x10 solid square.
        let cov = vec![255u8; 100];
        let out = sdf(&cov, 10, 10);
        let w = 10 + 2 * BORDER;
        assert_eq!(out.len(), w * w);
        let centre = out[(BORDER + 5) * w + BORDER + 5];
        let corner = out[0];
        let edge_in = out[(BORDER + 5) * w + BORDER];
        let edge_out = out[(BORDER + 5) * w + BORDER - 1];
        assert!(centre > 240, "centre {centre}");
        assert!(corner < 130, "corner {corner}");
        // The edge lies between the last inside and first outside pixel,
        // around 191 (cutoff 0.25).
        assert!(edge_in > 191 && edge_out < 191, "{edge_in} {edge_out}");
    }

    #[test]
    fn empty_coverage_is_all_outside() {
        let out = sdf(&[0u8; 4], 2, 2);
        assert!(out.iter().all(|&v| v < 191));
    }

    #[test]
    fn edt1d_matches_brute_force() {
        let f = [INF, 0.0, INF, INF, 0.25, INF, 0.0, INF];
        let mut d = [0.0; 8];
        let mut v = [0usize; 8];
        let mut z = [0.0; 9];
        edt1d(&f, &mut d, &mut v, &mut z);
        for (q, dq) in d.iter().enumerate() {
            let brute = f
                .iter()
                .enumerate()
                .map(|(p, fp)| (q as f64 - p as f64).powi(2) + fp)
                .fold(INF, f64::min);
            assert!((dq - brute).abs() < 1e-9, "q={q}: {dq} vs {brute}");
        }
    }
}
