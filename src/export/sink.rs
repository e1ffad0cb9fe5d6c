//! Where exported tiles go: a PMTiles v3 archive (the `pmtiles` crate's
//! streaming writer) or an MBTiles 1.3 database (the `mbtiles` crate, flat
//! `tiles` table, TMS rows). Tiles arrive already gzip-compressed, in
//! PMTiles tile-id order.
//!
//! Both write to a temporary path (`OUT.part`); [`Sink::finish`] completes
//! the file, fsyncs it, and only then renames it to its final name (and
//! fsyncs the folder), so an interrupted export never leaves a file under
//! the final name.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use mbtiles::{CopyDuplicateMode, MbtType, Mbtiles};
use pmtiles::{Compression, PmTilesStreamWriter, PmTilesWriter, TileType};

use crate::tiles::TileCoord;

/// Archive format, from the output file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    PmTiles,
    MbTiles,
}

impl Format {
    pub fn from_path(path: &Path) -> anyhow::Result<Format> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("pmtiles") => Ok(Format::PmTiles),
            Some("mbtiles") => Ok(Format::MbTiles),
            _ => bail!(
                "{}: the output must end in .pmtiles or .mbtiles",
                path.display()
            ),
        }
    }
}

/// What the archive says about itself.
#[derive(Debug, Clone)]
pub struct ArchiveMeta {
    pub name: String,
    pub description: String,
    /// Layer version tags, `id@tag,...`.
    pub version: String,
    pub bounds: [f64; 4],
    pub center: [f64; 2],
    pub center_zoom: u8,
    pub minzoom: u8,
    pub maxzoom: u8,
    /// TileJSON `vector_layers`.
    pub vector_layers: serde_json::Value,
}

impl ArchiveMeta {
    /// The PMTiles metadata object (TileJSON-like, as `pmtiles show` and
    /// MapLibre's PMTiles protocol read it).
    fn pmtiles_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "description": self.description,
            "version": self.version,
            "type": "overlay",
            "format": "pbf",
            "generator": concat!("tudi ", env!("CARGO_PKG_VERSION")),
            "vector_layers": self.vector_layers,
        })
    }
}

/// A tile archive being written.
pub struct Sink {
    kind: Kind,
    /// Lowest and highest zoom of the tiles written.
    zooms: Option<(u8, u8)>,
}

enum Kind {
    PmTiles(PmSink),
    MbTiles(MbSink),
}

/// Tiles per MBTiles transaction.
const MB_BATCH: usize = 512;

pub struct PmSink {
    part: PathBuf,
    /// For the final fsync; the writer has its own handle to the file.
    file: File,
    writer: PmTilesStreamWriter<File>,
}

pub struct MbSink {
    part: PathBuf,
    rt: tokio::runtime::Runtime,
    mbt: Mbtiles,
    conn: mbtiles::sqlx::SqliteConnection,
    batch: Vec<(u8, u32, u32, Vec<u8>)>,
}

/// `OUT` + `.part`.
pub fn part_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

impl Sink {
    /// Creates the temporary file (replacing a leftover one).
    pub fn create(format: Format, out: &Path, meta: &ArchiveMeta) -> anyhow::Result<Sink> {
        let part = part_path(out);
        match std::fs::remove_file(&part) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", part.display())),
        }
        let kind = match format {
            Format::PmTiles => {
                let file = File::create(&part)
                    .with_context(|| format!("cannot create {}", part.display()))?;
                let handle = file.try_clone()?;
                let [w, s, e, n] = meta.bounds;
                let writer = PmTilesWriter::new(TileType::Mvt)
                    .precompressed(Compression::Gzip)
                    .internal_compression(Compression::Gzip)
                    .min_zoom(meta.minzoom)
                    .max_zoom(meta.maxzoom)
                    .bounds(w, s, e, n)
                    .center(meta.center[0], meta.center[1])
                    .center_zoom(meta.center_zoom)
                    .metadata(meta.pmtiles_json().to_string())
                    .create(handle)
                    .with_context(|| format!("{}: cannot start the archive", part.display()))?;
                Kind::PmTiles(PmSink { part, file, writer })
            }
            Format::MbTiles => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let mbt = Mbtiles::new(&part)?;
                let conn = rt.block_on(async {
                    let mut conn = mbt.open_or_new().await?;
                    mbtiles::init_mbtiles_schema(&mut conn, MbtType::Flat, false).await?;
                    anyhow::Ok(conn)
                });
                let conn = conn.with_context(|| format!("{}: cannot create", part.display()))?;
                let mut sink = MbSink {
                    part,
                    rt,
                    mbt,
                    conn,
                    batch: Vec::with_capacity(MB_BATCH),
                };
                sink.metadata(meta)?;
                Kind::MbTiles(sink)
            }
        };
        Ok(Sink { kind, zooms: None })
    }

    /// Adds one gzip-compressed, non-empty tile.
    pub fn add(&mut self, coord: TileCoord, gz: Vec<u8>) -> anyhow::Result<()> {
        self.zooms = Some(match self.zooms {
            None => (coord.z, coord.z),
            Some((a, b)) => (a.min(coord.z), b.max(coord.z)),
        });
        match &mut self.kind {
            Kind::PmTiles(s) => {
                let c = pmtiles::TileCoord::new(coord.z, coord.x, coord.y)?;
                s.writer.add_tile(c, &gz)?;
                Ok(())
            }
            Kind::MbTiles(s) => {
                s.batch.push((coord.z, coord.x, coord.y, gz));
                if s.batch.len() >= MB_BATCH {
                    s.flush()?;
                }
                Ok(())
            }
        }
    }

    /// Completes the archive, makes it durable and renames it to `out`.
    pub fn finish(self, out: &Path) -> anyhow::Result<()> {
        let part = match self.kind {
            Kind::PmTiles(mut s) => {
                if let Some((a, b)) = self.zooms {
                    s.writer.set_zoom_range(a, b);
                }
                s.writer
                    .finalize()
                    .with_context(|| format!("{}: cannot finish", s.part.display()))?;
                s.file.sync_all()?;
                s.part
            }
            Kind::MbTiles(mut s) => {
                s.flush()?;
                if let Some((a, b)) = self.zooms {
                    s.set("minzoom", a.to_string())?;
                    s.set("maxzoom", b.to_string())?;
                }
                let MbSink { part, rt, conn, .. } = s;
                rt.block_on(async {
                    use mbtiles::sqlx::Connection;
                    conn.close().await
                })
                .with_context(|| format!("{}: cannot close", part.display()))?;
                File::open(&part)?.sync_all()?;
                part
            }
        };
        std::fs::rename(&part, out)
            .with_context(|| format!("cannot rename {} to {}", part.display(), out.display()))?;
        if let Some(dir) = out.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            // Makes the rename durable; not possible on every platform.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl MbSink {
    fn flush(&mut self) -> anyhow::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let (mbt, conn, batch) = (&self.mbt, &mut self.conn, &self.batch);
        self.rt
            .block_on(mbt.insert_tiles(conn, MbtType::Flat, CopyDuplicateMode::Override, batch))
            .with_context(|| format!("{}: cannot insert tiles", self.part.display()))?;
        self.batch.clear();
        Ok(())
    }

    fn set(&mut self, key: &str, value: String) -> anyhow::Result<()> {
        let (mbt, conn) = (&self.mbt, &mut self.conn);
        self.rt
            .block_on(mbt.set_metadata_value(conn, key, value))
            .with_context(|| format!("{}: cannot write metadata", self.part.display()))
    }

    /// The MBTiles 1.3 metadata rows; `json` carries `vector_layers`.
    fn metadata(&mut self, meta: &ArchiveMeta) -> anyhow::Result<()> {
        let b = meta.bounds;
        let rows: Vec<(&str, String)> = vec![
            ("name", meta.name.clone()),
            ("format", "pbf".into()),
            ("type", "overlay".into()),
            ("version", meta.version.clone()),
            ("description", meta.description.clone()),
            ("bounds", format!("{},{},{},{}", b[0], b[1], b[2], b[3])),
            (
                "center",
                format!("{},{},{}", meta.center[0], meta.center[1], meta.center_zoom),
            ),
            ("minzoom", meta.minzoom.to_string()),
            ("maxzoom", meta.maxzoom.to_string()),
            (
                "generator",
                concat!("tudi ", env!("CARGO_PKG_VERSION")).into(),
            ),
            (
                "json",
                serde_json::json!({ "vector_layers": meta.vector_layers }).to_string(),
            ),
        ];
        for (k, v) in rows {
            self.set(k, v)?;
        }
        Ok(())
    }
}
