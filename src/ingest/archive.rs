//! Hardened zip reading for uploaded Shapefile archives.
//!
//! Every entry name is checked before anything is inflated: `..`
//! components, absolute paths (`/x`, `\x`, `C:x`), symlinks (unix mode
//! `S_IFLNK`) and nested archives (`.zip`, `.gz`, `.7z`, ...) are refused
//! with [`IngestError::UnsafeArchive`], and the entry count is capped. The
//! declared sizes are checked first, then the caps are enforced again *while
//! inflating* (declared sizes can lie): the total inflated bytes and, for
//! entries over `ratio_free_bytes`, the ratio to the compressed size.
//! Inflated entries that start with a zip signature are refused as nested
//! archives too. Nothing is written to disk: the wanted entries are
//! returned in memory (bounded by `max_uncompressed_bytes`).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use zip::ZipArchive;

use super::{IngestError, IngestOptions, UploadFormat};

const NESTED: [&str; 10] = [
    "zip", "gz", "tgz", "tar", "7z", "rar", "bz2", "xz", "zst", "kmz",
];
const S_IFMT: u32 = 0o170_000;
const S_IFLNK: u32 = 0o120_000;

/// One file entry of an archive (directories are not listed).
#[derive(Debug, Clone)]
pub struct Entry {
    pub index: usize,
    /// Name as stored, `/`-separated.
    pub name: String,
    pub size: u64,
    pub compressed: u64,
}

impl Entry {
    /// Lower-cased extension, `""` if none.
    pub fn ext(&self) -> String {
        self.file_name()
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default()
    }

    /// Last path component.
    pub fn file_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }

    /// Path without the extension (the shapefile "base name").
    pub fn stem(&self) -> &str {
        match self.name.rsplit_once('.') {
            Some((s, _)) if !s.ends_with('/') => s,
            _ => &self.name,
        }
    }
}

/// An opened, name-checked archive.
pub struct SafeZip {
    zip: ZipArchive<File>,
    pub entries: Vec<Entry>,
    budget: u64,
    ratio: u64,
    ratio_free: u64,
}

fn unsafe_entry(entry: &str, reason: &str) -> IngestError {
    IngestError::UnsafeArchive {
        entry: entry.to_string(),
        reason: reason.to_string(),
    }
}

fn corrupt(e: impl ToString) -> IngestError {
    IngestError::corrupt(UploadFormat::ShapefileZip, e)
}

impl SafeZip {
    /// Opens `path` and checks every entry's name, type and declared size.
    pub fn open(path: &Path, opts: &IngestOptions) -> Result<SafeZip, IngestError> {
        let mut zip = ZipArchive::new(File::open(path)?).map_err(corrupt)?;
        if zip.len() > opts.max_zip_entries {
            return Err(IngestError::ArchiveTooLarge(format!(
                "{} entries, more than the limit of {}",
                zip.len(),
                opts.max_zip_entries
            )));
        }
        let mut entries = Vec::new();
        let mut declared = 0u64;
        for index in 0..zip.len() {
            let f = zip.by_index_raw(index).map_err(corrupt)?;
            let name = f.name().map_err(corrupt)?.replace('\\', "/");
            let bytes = name.as_bytes();
            if name.starts_with('/')
                || (bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic())
            {
                return Err(unsafe_entry(&name, "absolute path"));
            }
            if name.split('/').any(|c| c == "..") || f.enclosed_name().is_none() {
                return Err(unsafe_entry(&name, "path escapes the archive (`..`)"));
            }
            if f.is_symlink() || f.unix_mode().is_some_and(|m| m & S_IFMT == S_IFLNK) {
                return Err(unsafe_entry(&name, "symbolic link"));
            }
            if f.is_dir() {
                continue;
            }
            let entry = Entry {
                index,
                name,
                size: f.size(),
                compressed: f.compressed_size(),
            };
            if NESTED.contains(&entry.ext().as_str()) {
                return Err(unsafe_entry(&entry.name, "nested archive"));
            }
            declared = declared.saturating_add(entry.size);
            entries.push(entry);
        }
        if declared > opts.max_uncompressed_bytes {
            return Err(IngestError::ArchiveTooLarge(format!(
                "entries declare {declared} bytes uncompressed, more than the limit of {}",
                opts.max_uncompressed_bytes
            )));
        }
        Ok(SafeZip {
            zip,
            entries,
            budget: opts.max_uncompressed_bytes,
            ratio: opts.max_compression_ratio,
            ratio_free: opts.ratio_free_bytes,
        })
    }

    /// Inflates one entry with the caps enforced as bytes come out.
    pub fn read(&mut self, entry: &Entry) -> Result<Vec<u8>, IngestError> {
        let by_ratio = entry
            .compressed
            .saturating_mul(self.ratio)
            .max(self.ratio_free);
        let limit = by_ratio.min(self.budget);
        let mut f = self.zip.by_index(entry.index).map_err(corrupt)?;
        let mut out = Vec::with_capacity(entry.size.min(limit).min(64 << 20) as usize);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match f.read(&mut buf) {
                Ok(n) => n,
                Err(e) => return Err(corrupt(format!("`{}`: {e}", entry.name))),
            };
            if n == 0 {
                break;
            }
            if out.len() as u64 + n as u64 > limit {
                let why = if limit == self.budget {
                    format!(
                        "inflating `{}` passes the total limit of {} bytes",
                        entry.name, self.budget
                    )
                } else {
                    format!(
                        "`{}` inflates more than {}:1 ({} compressed bytes)",
                        entry.name, self.ratio, entry.compressed
                    )
                };
                return Err(IngestError::ArchiveTooLarge(why));
            }
            out.extend_from_slice(&buf[..n]);
        }
        if out.starts_with(b"PK\x03\x04") {
            return Err(unsafe_entry(&entry.name, "nested archive"));
        }
        self.budget -= out.len() as u64;
        Ok(out)
    }
}
