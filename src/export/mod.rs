//! `tudi export`: pre-render the tiles of some layers over a bounding box and
//! a zoom range into one PMTiles v3 or MBTiles archive, for CDNs and offline
//! use.
//!
//! The tiles are the server's: the same loader ([`crate::layer::load_all`])
//! and the same renderer ([`crate::tiles::render_tile`] with
//! [`RenderOptions::default`]), one MVT layer per exported layer. What an
//! anonymous caller may not see stays out unless `--include-restricted`:
//! a restricted layer is refused, and masked attributes are left out of the
//! tiles and of `vector_layers`.
//!
//! Pipeline: the tiles of the box ([`plan::tiles`], PMTiles tile-id order)
//! are claimed in order by worker threads that render and gzip them; the
//! calling thread takes the results back in order (a reorder buffer, with
//! workers held at most [`WINDOW`] tiles ahead of the writer) and appends the
//! non-empty ones to the archive ([`sink`]). The archive is written as
//! `OUT.part` and renamed to `OUT` only once complete and fsync'd.

pub mod plan;
pub mod sink;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};
use std::time::Instant;

use anyhow::{Context, bail};
use serde::Serialize;

use crate::layer::{Layer, LayerDef, config::read_dir, load_all};
use crate::tiles::{RenderOptions, TileCoord, render_tile};
pub use plan::{Bbox, parse_bbox};
pub use sink::{ArchiveMeta, Format, Sink, part_path};

/// How far (in tiles) the workers may run ahead of the writer.
pub const WINDOW: usize = 4096;

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Folder of layer definitions (`*.toml`).
    pub layers_dir: PathBuf,
    /// Layer ids, in the order of the MVT layers in each tile.
    pub layers: Vec<String>,
    /// Lon/lat box; `None`: the union of the layers' bounds.
    pub bbox: Option<Bbox>,
    pub minzoom: u8,
    pub maxzoom: u8,
    /// `.pmtiles` or `.mbtiles`.
    pub out: PathBuf,
    /// Export restricted layers and masked attributes too.
    pub include_restricted: bool,
    /// Replace `out` if it exists.
    pub force: bool,
    /// Render threads (0: one per core).
    pub threads: usize,
    /// Draw a progress bar on stderr (when it is a terminal).
    pub progress: bool,
}

/// What an export did (printed as JSON by the command).
#[derive(Debug, Clone, Serialize)]
pub struct ExportSummary {
    pub out: PathBuf,
    pub format: Format,
    pub layers: Vec<String>,
    pub bbox: Bbox,
    pub minzoom: u8,
    pub maxzoom: u8,
    /// Attributes left out (`layer.attribute`).
    pub hidden_attributes: Vec<String>,
    /// Tiles enumerated (rendered).
    pub tiles_total: usize,
    /// Non-empty tiles written.
    pub tiles_written: usize,
    /// Tiles still over the size budget after coarsening (written anyway).
    pub tiles_over_budget: usize,
    /// Uncompressed MVT bytes of the written tiles.
    pub raw_bytes: u64,
    /// Gzip bytes of the written tiles.
    pub gzip_bytes: u64,
    /// Size of the archive.
    pub file_bytes: u64,
    pub load_ms: u64,
    pub render_ms: u64,
    pub tiles_per_s: f64,
}

/// One rendered tile on its way to the writer.
struct Done {
    idx: usize,
    coord: TileCoord,
    /// Gzip bytes; `None` for an empty tile.
    gz: Option<Vec<u8>>,
    raw_len: usize,
    over_budget: bool,
}

/// Keeps the workers within [`WINDOW`] tiles of the writer.
struct Window {
    written: Mutex<usize>,
    moved: Condvar,
    stop: AtomicBool,
}

impl Window {
    /// Waits until tile `idx` is within the window; false if stopping.
    fn enter(&self, idx: usize) -> bool {
        let mut w = match self.written.lock() {
            Ok(w) => w,
            Err(p) => p.into_inner(),
        };
        while idx >= *w + WINDOW && !self.stop.load(Ordering::Relaxed) {
            w = match self.moved.wait(w) {
                Ok(w) => w,
                Err(p) => p.into_inner(),
            };
        }
        !self.stop.load(Ordering::Relaxed)
    }

    fn advance(&self, to: usize) {
        if let Ok(mut w) = self.written.lock() {
            *w = to;
        }
        self.moved.notify_all();
    }

    fn halt(&self) {
        self.stop.store(true, Ordering::Relaxed);
        // Take the lock so no worker misses the wake-up between its check
        // and its wait.
        drop(self.written.lock());
        self.moved.notify_all();
    }
}

/// The selected layer definitions, in the order asked, duplicates collapsed.
fn select(defs: Vec<LayerDef>, ids: &[String]) -> anyhow::Result<Vec<LayerDef>> {
    if ids.is_empty() {
        bail!("--layers: name at least one layer");
    }
    let mut out: Vec<LayerDef> = Vec::new();
    for id in ids {
        if out.iter().any(|d| &d.id == id) {
            continue;
        }
        match defs.iter().find(|d| &d.id == id) {
            Some(d) => out.push(d.clone()),
            None => {
                let known: Vec<&str> = defs.iter().map(|d| d.id.as_str()).collect();
                bail!("--layers: no layer `{id}` (known: {})", known.join(", "));
            }
        }
    }
    Ok(out)
}

/// Refuses restricted layers (unless `include_restricted`) and lists the
/// masked attributes to leave out as `(layer, attribute)`.
fn access(defs: &[LayerDef], include_restricted: bool) -> anyhow::Result<Vec<(String, String)>> {
    if include_restricted {
        return Ok(Vec::new());
    }
    let restricted: Vec<&str> = defs
        .iter()
        .filter(|d| !d.access.is_public())
        .map(|d| d.id.as_str())
        .collect();
    if !restricted.is_empty() {
        bail!(
            "layer(s) {} are not public (access in their definition): an export is readable by anyone who gets the file; pass --include-restricted to export them whole",
            restricted.join(", ")
        );
    }
    let anonymous = crate::auth::Caller::anonymous();
    Ok(defs
        .iter()
        .flat_map(|d| {
            crate::auth::hidden(&d.mask, &anonymous)
                .into_iter()
                .map(|a| (d.id.clone(), a.to_string()))
        })
        .collect())
}

/// TileJSON `vector_layers` as the server's TileJSON has them, without the
/// hidden attributes.
pub fn vector_layers(layers: &[&Layer], hidden: &[(String, String)]) -> serde_json::Value {
    let list = layers
        .iter()
        .flat_map(|l| {
            crate::tiles::vector_layers_of(l, |n| {
                !hidden.iter().any(|(id, a)| id == &l.def.id && a == n)
            })
        })
        .collect();
    serde_json::Value::Array(list)
}

/// Archives are written once and read many times: gzip level 6.
fn gzip(raw: &[u8]) -> Vec<u8> {
    crate::cache::gzip_at(raw, 6)
}

/// Runs an export; see the module docs.
pub fn run(opts: &ExportOptions) -> anyhow::Result<ExportSummary> {
    let format = Format::from_path(&opts.out)?;
    if opts.minzoom > opts.maxzoom {
        bail!(
            "--minzoom {} is above --maxzoom {}",
            opts.minzoom,
            opts.maxzoom
        );
    }
    if opts.maxzoom > crate::layer::config::MAX_ZOOM {
        bail!(
            "--maxzoom {} is above {}",
            opts.maxzoom,
            crate::layer::config::MAX_ZOOM
        );
    }
    if opts.out.exists() && !opts.force {
        bail!("{} exists (pass --force to replace it)", opts.out.display());
    }
    if let Some(b) = &opts.bbox {
        plan::check_bbox(b).context("--bbox")?;
    }
    let defs = select(read_dir(&opts.layers_dir)?, &opts.layers)?;
    let hidden_names = access(&defs, opts.include_restricted)?;
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        opts.threads
    };

    let t_load = Instant::now();
    let mut loaded = Vec::with_capacity(defs.len());
    for r in load_all(&defs, threads, &|_, _| {}) {
        loaded.push(r?.0);
    }
    let load_ms = t_load.elapsed().as_millis() as u64;
    let layers: Vec<&Layer> = loaded.iter().collect();

    let bbox = match opts.bbox {
        Some(b) => b,
        None => data_bounds(&layers)?,
    };
    // Below every layer's minzoom all tiles are empty: not enumerated.
    let first = defs
        .iter()
        .map(|d| d.minzoom)
        .min()
        .unwrap_or(0)
        .max(opts.minzoom);
    let coords = if first > opts.maxzoom {
        Vec::new()
    } else {
        plan::tiles(&bbox, first, opts.maxzoom)?
    };

    let mut render = RenderOptions::default();
    for (id, attr) in &hidden_names {
        if let Some(l) = layers.iter().find(|l| &l.def.id == id)
            && let Some(i) = l.field_index(attr)
        {
            render.hidden.push((id.clone(), i));
        }
    }
    let round6 = |v: f64| (v * 1e6).round() / 1e6;
    let center = [
        round6((bbox[0] + bbox[2]) / 2.0),
        round6((bbox[1] + bbox[3]) / 2.0),
    ];
    // A zoom at which the box fills about one 512-px screen.
    let span = (bbox[2] - bbox[0]).max(bbox[3] - bbox[1]).max(1e-9);
    let fill_zoom = (360.0 / span).log2().floor().clamp(0.0, 22.0) as u8;
    let meta = ArchiveMeta {
        name: layers
            .iter()
            .map(|l| l.def.title.as_str())
            .collect::<Vec<_>>()
            .join(" + "),
        description: layers
            .iter()
            .filter_map(|l| l.def.description.clone())
            .collect::<Vec<_>>()
            .join("; "),
        version: layers
            .iter()
            .map(|l| format!("{}@{}", l.def.id, l.version_tag()))
            .collect::<Vec<_>>()
            .join(","),
        bounds: bbox,
        center,
        center_zoom: fill_zoom.clamp(first.min(opts.maxzoom), opts.maxzoom),
        minzoom: opts.minzoom,
        maxzoom: opts.maxzoom,
        vector_layers: vector_layers(&layers, &hidden_names),
    };

    let mut sink = Sink::create(format, &opts.out, &meta)?;
    let bar = progress_bar(coords.len() as u64, opts.progress);
    let t_render = Instant::now();
    let stats = pipeline(&layers, &coords, &render, threads, &mut sink, &bar);
    bar.finish_and_clear();
    let stats = match stats {
        Ok(s) => s,
        Err(e) => {
            drop(sink);
            let _ = std::fs::remove_file(part_path(&opts.out));
            return Err(e);
        }
    };
    sink.finish(&opts.out)?;
    let render_ms = t_render.elapsed().as_millis() as u64;
    let file_bytes = std::fs::metadata(&opts.out)
        .with_context(|| format!("{}", opts.out.display()))?
        .len();
    Ok(ExportSummary {
        out: opts.out.clone(),
        format,
        layers: defs.iter().map(|d| d.id.clone()).collect(),
        bbox,
        minzoom: opts.minzoom,
        maxzoom: opts.maxzoom,
        hidden_attributes: hidden_names
            .iter()
            .map(|(l, a)| format!("{l}.{a}"))
            .collect(),
        tiles_total: coords.len(),
        tiles_written: stats.written,
        tiles_over_budget: stats.over_budget,
        raw_bytes: stats.raw_bytes,
        gzip_bytes: stats.gzip_bytes,
        file_bytes,
        load_ms,
        render_ms,
        tiles_per_s: coords.len() as f64 / (render_ms.max(1) as f64 / 1000.0),
    })
}

/// The union of the layers' lon/lat bounds, clamped to Web Mercator.
fn data_bounds(layers: &[&Layer]) -> anyhow::Result<Bbox> {
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for l in layers {
        b[0] = b[0].min(l.bounds[0]);
        b[1] = b[1].min(l.bounds[1]);
        b[2] = b[2].max(l.bounds[2]);
        b[3] = b[3].max(l.bounds[3]);
    }
    b[1] = b[1].max(-plan::MAX_LAT);
    b[3] = b[3].min(plan::MAX_LAT);
    if plan::check_bbox(&b).is_err() {
        bail!("the layers have no extent to export: pass --bbox W,S,E,N");
    }
    Ok(b)
}

fn progress_bar(len: u64, show: bool) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} tiles ({per_sec}, eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

#[derive(Debug, Default)]
struct Stats {
    written: usize,
    over_budget: usize,
    raw_bytes: u64,
    gzip_bytes: u64,
}

/// Renders `coords` on `threads` workers and writes them to `sink` in order.
fn pipeline(
    layers: &[&Layer],
    coords: &[TileCoord],
    render: &RenderOptions,
    threads: usize,
    sink: &mut Sink,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<Stats> {
    let next = AtomicUsize::new(0);
    let window = Window {
        written: Mutex::new(0),
        moved: Condvar::new(),
        stop: AtomicBool::new(false),
    };
    let mut stats = Stats::default();
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<anyhow::Result<Done>>(threads.max(1) * 16);
        for _ in 0..threads.max(1) {
            let tx = tx.clone();
            let (next, window) = (&next, &window);
            s.spawn(move || {
                loop {
                    let idx = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&coord) = coords.get(idx) else { break };
                    if !window.enter(idx) {
                        break;
                    }
                    let done = render_tile(layers, coord, render)
                        .with_context(|| format!("tile {coord}"))
                        .map(|t| Done {
                            idx,
                            coord,
                            gz: (!t.bytes.is_empty()).then(|| gzip(&t.bytes)),
                            raw_len: t.bytes.len(),
                            over_budget: t.over_budget,
                        });
                    if tx.send(done).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let result = (|| {
            let mut pending: BTreeMap<usize, Done> = BTreeMap::new();
            let mut want = 0usize;
            for msg in &rx {
                let d = msg?;
                pending.insert(d.idx, d);
                let before = want;
                while let Some(d) = pending.remove(&want) {
                    want += 1;
                    if d.over_budget {
                        stats.over_budget += 1;
                    }
                    if let Some(gz) = d.gz {
                        stats.written += 1;
                        stats.raw_bytes += d.raw_len as u64;
                        stats.gzip_bytes += gz.len() as u64;
                        sink.add(d.coord, gz)?;
                    }
                }
                if want > before {
                    window.advance(want);
                    bar.set_position(want as u64);
                }
            }
            if want != coords.len() {
                bail!("{} of {} tiles rendered", want, coords.len());
            }
            Ok(())
        })();
        if result.is_err() {
            window.halt();
            // Unblocks workers waiting to send.
            drop(rx);
        }
        result
    })?;
    Ok(stats)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn gzip_round_trips() {
        let raw = b"hello tiles hello tiles hello tiles".repeat(10);
        let gz = gzip(&raw);
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut out).unwrap();
        assert_eq!(out, raw);
    }

    #[test]
    fn window_lets_workers_only_so_far_ahead() {
        let w = Window {
            written: Mutex::new(0),
            moved: Condvar::new(),
            stop: AtomicBool::new(false),
        };
        assert!(w.enter(WINDOW - 1));
        w.advance(10);
        assert!(w.enter(WINDOW + 9));
        w.halt();
        // Past the window, a halted window returns at once.
        assert!(!w.enter(WINDOW * 3));
    }
}
