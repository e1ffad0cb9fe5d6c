//! The encoded-tile cache: a byte-budgeted moka cache keyed by the layer
//! versions a tile was cut from, so a new version can never be answered from
//! an old version's entry. Compressed forms are made once, on first request,
//! and kept with the entry.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use moka::future::Cache;

/// Cache key: the composite's `id@version` list, then z/x/y.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TileKey {
    pub layers: Arc<str>,
    pub z: u8,
    pub x: u32,
    pub y: u32,
}

/// Content encodings tudi serves tiles in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Brotli,
}

impl Encoding {
    pub fn header(&self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some("gzip"),
            Encoding::Brotli => Some("br"),
        }
    }

    fn etag_suffix(&self) -> &'static str {
        match self {
            Encoding::Identity => "",
            Encoding::Gzip => "-gz",
            Encoding::Brotli => "-br",
        }
    }
}

/// One cached tile: the raw MVT plus lazily made compressed forms.
#[derive(Debug)]
pub struct CachedTile {
    pub raw: Bytes,
    /// Hex digest of `raw` (XXH3-128): the ETag's base. Not a cryptographic
    /// hash, and need not be: an ETag only has to change when the bytes do,
    /// and be the same on every instance and after a restart (XXH3 is seeded
    /// with a constant). SHA-256 cost 4% of a cold tile's time.
    pub digest: String,
    pub features: usize,
    gzip: OnceLock<Bytes>,
    brotli: OnceLock<Bytes>,
}

impl CachedTile {
    pub fn new(raw: Vec<u8>, features: usize) -> CachedTile {
        let digest = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&raw));
        CachedTile {
            raw: Bytes::from(raw),
            digest,
            features,
            gzip: OnceLock::new(),
            brotli: OnceLock::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Strong ETag of the representation in `enc`.
    pub fn etag(&self, enc: Encoding) -> String {
        format!("\"{}{}\"", self.digest, enc.etag_suffix())
    }

    /// The body in `enc`, compressing (CPU work: call from a blocking
    /// thread when not yet made) on first use.
    pub fn body(&self, enc: Encoding) -> Bytes {
        match enc {
            Encoding::Identity => self.raw.clone(),
            Encoding::Gzip => self.gzip.get_or_init(|| gzip(&self.raw)).clone(),
            Encoding::Brotli => self.brotli.get_or_init(|| brotli(&self.raw)).clone(),
        }
    }

    /// Whether `body(enc)` would have to compress.
    pub fn needs_compression(&self, enc: Encoding) -> bool {
        match enc {
            Encoding::Identity => false,
            Encoding::Gzip => self.gzip.get().is_none(),
            Encoding::Brotli => self.brotli.get().is_none(),
        }
    }

    fn weight(&self) -> u32 {
        let extra =
            self.gzip.get().map_or(0, |b| b.len()) + self.brotli.get().map_or(0, |b| b.len());
        u32::try_from(self.raw.len() * 2 + extra + 256).unwrap_or(u32::MAX)
    }
}

/// gzip level for tiles (libdeflate's scale, 0-12). A cold tile is
/// compressed while its client waits, and a cached one is sent many times.
/// On 478 of the district's z14-z17 tiles (45.6 MB raw), libdeflate level 1
/// gives 0.381 of the raw size at 235 MB/s, against 0.384 at 174 MB/s for
/// zlib-rs level 2 (the previous choice) and 0.463 at 327 MB/s for zlib-rs
/// level 1 (its "quick" strategy); libdeflate level 6, 0.350 at 102 MB/s.
const GZIP_LEVEL: u32 = 1;

fn gzip(raw: &[u8]) -> Bytes {
    Bytes::from(gzip_at(raw, GZIP_LEVEL))
}

thread_local! {
    /// One libdeflate compressor per thread and level (its state is a few
    /// hundred KB: allocated once, not per tile).
    static COMPRESSORS: std::cell::RefCell<Vec<(u32, libdeflater::Compressor)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// `raw` gzip-compressed at `level` (libdeflate's 0-12, clamped): level 1
/// for serving, 6 for archives that are written once (`tudi export`).
pub fn gzip_at(raw: &[u8], level: u32) -> Vec<u8> {
    let level = level.min(12);
    COMPRESSORS.with(|cell| {
        let mut all = cell.borrow_mut();
        let at = match all.iter().position(|(l, _)| *l == level) {
            Some(i) => i,
            None => {
                let lvl = libdeflater::CompressionLvl::new(level as i32)
                    .unwrap_or_else(|_| libdeflater::CompressionLvl::default());
                all.push((level, libdeflater::Compressor::new(lvl)));
                all.len() - 1
            }
        };
        let c = &mut all[at].1;
        let mut out = vec![0u8; c.gzip_compress_bound(raw.len())];
        // The buffer holds the bound libdeflate computed for this input, so
        // this does not fail; if it ever did, zlib-rs compresses instead.
        match c.gzip_compress(raw, &mut out) {
            Ok(n) => {
                out.truncate(n);
                out.shrink_to_fit();
                out
            }
            Err(_) => gzip_flate2(raw, level.min(9)),
        }
    })
}

/// `raw` gzip-compressed by flate2 (zlib-rs) at `level` (0-9).
fn gzip_flate2(raw: &[u8], level: u32) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 2 + 64),
        flate2::Compression::new(level),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(raw);
    enc.finish().unwrap_or_default()
}

fn brotli(raw: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(raw.len() / 2);
    // Quality 2: on the district's z14-z17 tiles it is 3-4x faster than
    // quality 5 (4.5 against 16.8 ms for a 289 KB z14 tile) and its output
    // still smaller than gzip's (0.33-0.40 of the raw size, against
    // 0.29-0.35 at quality 5). Browsers ask for br first, and a cold tile is
    // compressed while its client waits.
    let params = brotli::enc::BrotliEncoderParams {
        quality: 2,
        ..Default::default()
    };
    let mut input = raw;
    // Reading from a slice and writing to a Vec cannot fail.
    let _ = brotli::BrotliCompress(&mut input, &mut out, &params);
    Bytes::from(out)
}

/// The cache itself (cheap to clone).
#[derive(Clone)]
pub struct TileCache {
    inner: Option<Cache<TileKey, Arc<CachedTile>>>,
}

impl TileCache {
    /// A cache holding at most `budget_bytes` of tiles; 0 disables caching.
    pub fn new(budget_bytes: u64) -> TileCache {
        if budget_bytes == 0 {
            return TileCache { inner: None };
        }
        let inner = Cache::builder()
            .max_capacity(budget_bytes)
            .weigher(|_k: &TileKey, v: &Arc<CachedTile>| v.weight())
            .support_invalidation_closures()
            .build();
        TileCache { inner: Some(inner) }
    }

    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    pub async fn get(&self, key: &TileKey) -> Option<Arc<CachedTile>> {
        self.inner.as_ref()?.get(key).await
    }

    pub async fn insert(&self, key: TileKey, tile: Arc<CachedTile>) {
        if let Some(c) = &self.inner {
            c.insert(key, tile).await;
        }
    }

    /// Drops every entry cut from any version of `layer_id`.
    pub fn invalidate_layer(&self, layer_id: &str) {
        if let Some(c) = &self.inner {
            let needle = format!("{layer_id}@");
            let _ = c.invalidate_entries_if(move |k, _| {
                k.layers.split(',').any(|part| part.starts_with(&needle))
            });
        }
    }

    /// Bytes currently held (approximate; moka settles lazily).
    pub fn weighted_size(&self) -> u64 {
        self.inner.as_ref().map_or(0, |c| c.weighted_size())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_forms_round_trip() {
        let raw: Vec<u8> = (0..10_000u32)
            .flat_map(|i| (i % 97).to_le_bytes())
            .collect();
        let t = CachedTile::new(raw.clone(), 1);
        let gz = t.body(Encoding::Gzip);
        let mut out = Vec::new();
        use std::io::Read;
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, raw);
        let br = t.body(Encoding::Brotli);
        let mut out2 = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut out2).unwrap();
        assert_eq!(out2, raw);
        assert_ne!(t.etag(Encoding::Gzip), t.etag(Encoding::Identity));
    }

    #[test]
    fn every_gzip_level_round_trips_through_flate2() {
        use std::io::Read;
        let raw: Vec<u8> = (0..50_000u32)
            .flat_map(|i| (i * i % 251).to_le_bytes())
            .collect();
        for input in [&raw[..], &[][..], &raw[..7]] {
            for level in [0, 1, 6, 12, 99] {
                let gz = gzip_at(input, level);
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&gz[..])
                    .read_to_end(&mut out)
                    .unwrap();
                assert_eq!(out, input, "level {level}");
            }
        }
        // The same compressor serves a second call on this thread.
        assert_eq!(gzip_at(&raw, 1), gzip_at(&raw, 1));
    }
}
