//! Label glyphs for MapLibre: `/fonts/{stack}/{range}.pbf`, signed distance
//! fields generated at run time from font files.
//!
//! Why this way: the pages must work on an intranet with no internet, so no
//! glyph CDN; and pre-generated PBF ranges for a CJK font are tens of MB
//! (every range of ~30,000 ideographs), too big to commit. So tudi renders a
//! range on first request (pure Rust: `ab_glyph` rasterises the outline,
//! [`sdf`] turns the coverage into the same SDF MapLibre's TinySDF makes,
//! [`pbf`] encodes the message) and keeps it in a small cache. No C
//! library (FreeType) to build or install.
//!
//! Fonts: `Noto Sans Regular` (OFL, 0.5 MB, Latin/Greek/Cyrillic) is
//! embedded in the binary, so Latin labels always render. CJK comes from
//! font files in the `--fonts-dir` folders, by default Debian's
//! `fonts-noto-cjk` (`/usr/share/fonts/opentype/noto`: `Noto Sans CJK SC
//! Regular` and its siblings, read lazily from the `.ttc`). When no CJK font
//! is installed, `GET /fonts` says so (`"cjk": false`) and the pages let
//! MapLibre draw ideographs with the browser's own fonts
//! (`localIdeographFontFamily`).
//!
//! A stack `A,B` is served when at least one of its fonts is known; each
//! codepoint comes from the first font of the stack that has it.

pub mod pbf;
pub mod sdf;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};

use pbf::Glyph;

/// The embedded Latin font (see `fonts/OFL.txt`).
static EMBEDDED: &[u8] = include_bytes!("../../fonts/NotoSans-Regular.ttf");

/// Where Debian's `fonts-noto-cjk` puts its fonts: the default font folder.
pub const DEFAULT_FONTS_DIR: &str = "/usr/share/fonts/opentype/noto";

/// MapLibre's glyph size: 24 px per em.
const EM_PX: f32 = 24.0;
/// `top` is measured from this line above the baseline (px), one value for
/// every font so that the fonts of a stack share a baseline (MapLibre's
/// local glyphs use 27.5 at double resolution, server fonts ~26).
const TOP_ORIGIN: i32 = 26;
/// Longest accepted stack (bytes) and most fonts in one stack.
const MAX_STACK_LEN: usize = 256;
const MAX_STACK_FONTS: usize = 8;
/// Character probed to tell whether a font covers CJK ideographs (土).
const CJK_PROBE: char = '\u{571F}';

/// What can go wrong with a glyph request.
#[derive(Debug, thiserror::Error)]
pub enum GlyphError {
    #[error(
        "bad glyph range `{0}`: expected `START-END.pbf` with START a multiple of 256, END = START + 255 and END <= 65535"
    )]
    BadRange(String),
    #[error("bad font stack: {0}")]
    BadStack(String),
    #[error("no font of the stack `{0}` is installed (see GET /fonts)")]
    UnknownStack(String),
}

/// Parses `START-END.pbf` (or without the suffix) into START.
pub fn parse_range(s: &str) -> Result<u32, GlyphError> {
    let shown = || GlyphError::BadRange(s.chars().take(40).collect());
    let body = s.strip_suffix(".pbf").unwrap_or(s);
    let (a, b) = body.split_once('-').ok_or_else(shown)?;
    let digits = |t: &str| !t.is_empty() && t.len() <= 6 && t.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return Err(shown());
    }
    let start: u32 = a.parse().map_err(|_| shown())?;
    let end: u32 = b.parse().map_err(|_| shown())?;
    if !start.is_multiple_of(256) || end != start + 255 || end > 0xFFFF {
        return Err(shown());
    }
    Ok(start)
}

/// Splits a font stack `A,B` into names; only letters, digits, spaces, `-`
/// and `_` are allowed (no `.`, `/`, `\`: a stack never names a path).
pub fn parse_stack(s: &str) -> Result<Vec<String>, GlyphError> {
    if s.len() > MAX_STACK_LEN {
        return Err(GlyphError::BadStack(format!(
            "longer than {MAX_STACK_LEN} bytes"
        )));
    }
    let mut names = Vec::new();
    for part in s.split(',') {
        let name = part.trim();
        if name.is_empty() {
            return Err(GlyphError::BadStack("empty font name".into()));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '-' | '_')))
        {
            return Err(GlyphError::BadStack(format!(
                "character {:?} is not allowed in a font name",
                c
            )));
        }
        names.push(name.to_string());
    }
    if names.len() > MAX_STACK_FONTS {
        return Err(GlyphError::BadStack(format!(
            "more than {MAX_STACK_FONTS} fonts"
        )));
    }
    Ok(names)
}

/// Bytes of one font file, read when first needed.
enum Source {
    Embedded(&'static [u8]),
    File {
        path: PathBuf,
        data: OnceLock<Option<Arc<[u8]>>>,
    },
}

/// Font bytes without copying: the embedded slice or a shared file buffer.
enum Bytes {
    Static(&'static [u8]),
    Shared(Arc<[u8]>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Static(b) => b,
            Bytes::Shared(b) => b,
        }
    }
}

impl Source {
    fn bytes(&self) -> Option<Bytes> {
        match self {
            Source::Embedded(b) => Some(Bytes::Static(b)),
            Source::File { path, data } => data
                .get_or_init(|| match std::fs::read(path) {
                    Ok(b) => Some(Arc::from(b)),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), "font unreadable: {e}");
                        None
                    }
                })
                .clone()
                .map(Bytes::Shared),
        }
    }
}

/// One face of a font file (a `.ttc` holds several).
struct Face {
    name: String,
    index: u32,
    cjk: bool,
    source: Arc<Source>,
}

/// A font known to the library, for `GET /fonts`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FontInfo {
    pub name: String,
    /// Has CJK ideographs.
    pub cjk: bool,
    /// `embedded` or `file`.
    pub origin: &'static str,
}

/// Every font face tudi can render glyphs from, by name.
pub struct FontLibrary {
    faces: Vec<Face>,
}

impl FontLibrary {
    /// The embedded font plus every `.ttf`/`.otf`/`.ttc`/`.otc` directly in
    /// `dirs` (missing folders are skipped; the first face of a name wins).
    pub fn discover(dirs: &[PathBuf]) -> FontLibrary {
        let mut lib = FontLibrary { faces: Vec::new() };
        lib.add(Arc::new(Source::Embedded(EMBEDDED)), EMBEDDED);
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                tracing::debug!(dir = %dir.display(), "no font folder");
                continue;
            };
            let mut files: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| is_font_file(p))
                .collect();
            files.sort();
            for path in files {
                match std::fs::read(&path) {
                    Ok(bytes) => {
                        let src = Arc::new(Source::File {
                            path: path.clone(),
                            data: OnceLock::new(),
                        });
                        let n = lib.add(src, &bytes);
                        tracing::debug!(path = %path.display(), faces = n, "fonts indexed");
                    }
                    Err(e) => tracing::warn!(path = %path.display(), "font unreadable: {e}"),
                }
            }
        }
        lib
    }

    /// Indexes the faces of one file; returns how many were added.
    fn add(&mut self, source: Arc<Source>, bytes: &[u8]) -> usize {
        let count = ttf_parser::fonts_in_collection(bytes).unwrap_or(1);
        let mut added = 0;
        let mut seen: HashSet<String> = self.faces.iter().map(|f| f.name.clone()).collect();
        for index in 0..count {
            let Ok(face) = ttf_parser::Face::parse(bytes, index) else {
                continue;
            };
            let Some(name) = face_name(&face) else {
                continue;
            };
            if !seen.insert(name.clone()) {
                continue;
            }
            let cjk = face.glyph_index(CJK_PROBE).is_some();
            self.faces.push(Face {
                name,
                index,
                cjk,
                source: source.clone(),
            });
            added += 1;
        }
        added
    }

    /// The known fonts, in discovery order (the embedded one first).
    pub fn fonts(&self) -> Vec<FontInfo> {
        self.faces
            .iter()
            .map(|f| FontInfo {
                name: f.name.clone(),
                cjk: f.cjk,
                origin: match *f.source {
                    Source::Embedded(_) => "embedded",
                    Source::File { .. } => "file",
                },
            })
            .collect()
    }

    /// Whether any stack font covers CJK ideographs.
    pub fn has_cjk(&self) -> bool {
        self.faces.iter().any(|f| f.cjk)
    }

    /// The encoded glyph PBF of `stack` for the 256 codepoints from `start`.
    pub fn render(&self, stack: &[String], start: u32) -> Result<Vec<u8>, GlyphError> {
        let joined = stack.join(",");
        let mut datas = Vec::new();
        for name in stack {
            if let Some(face) = self.faces.iter().find(|f| &f.name == name)
                && let Some(bytes) = face.source.bytes()
            {
                datas.push((bytes, face.index));
            }
        }
        let fonts: Vec<FontRef<'_>> = datas
            .iter()
            .filter_map(|(b, i)| FontRef::try_from_slice_and_index(b, *i).ok())
            .collect();
        if fonts.is_empty() {
            return Err(GlyphError::UnknownStack(joined.chars().take(120).collect()));
        }
        let mut glyphs = Vec::new();
        for cp in start..=start + 255 {
            let Some(ch) = char::from_u32(cp) else {
                continue;
            };
            if let Some(font) = fonts.iter().find(|f| f.glyph_id(ch).0 != 0) {
                glyphs.push(render_glyph(font, ch));
            }
        }
        Ok(pbf::encode(
            &joined,
            &format!("{start}-{}", start + 255),
            &glyphs,
        ))
    }
}

fn is_font_file(p: &Path) -> bool {
    let ext = p
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    matches!(ext.as_deref(), Some("ttf" | "otf" | "ttc" | "otc")) && p.is_file()
}

/// `family style` as FreeType (and so fontnik, martin) names a face, e.g.
/// `Noto Sans CJK SC Regular`.
fn face_name(face: &ttf_parser::Face<'_>) -> Option<String> {
    use ttf_parser::name_id;
    let get = |id: u16| {
        face.names()
            .into_iter()
            .filter(|n| n.name_id == id && n.is_unicode())
            .find_map(|n| n.to_string())
    };
    let family = get(name_id::FAMILY)?;
    let style = get(name_id::SUBFAMILY).unwrap_or_else(|| "Regular".into());
    Some(format!("{} {}", family.trim(), style.trim()))
}

/// Rasterises one character at 24 px per em and makes its SDF.
fn render_glyph(font: &FontRef<'_>, ch: char) -> Glyph {
    let units = font.units_per_em().unwrap_or(1000.0);
    let scale = PxScale::from(EM_PX * font.height_unscaled() / units);
    let scaled = font.as_scaled(scale);
    let id = font.glyph_id(ch);
    let advance = scaled.h_advance(id).round().max(0.0) as u32;
    let glyph = id.with_scale_and_position(scale, point(0.0, 0.0));
    let blank = Glyph {
        id: u32::from(ch),
        bitmap: Vec::new(),
        width: 0,
        height: 0,
        left: 0,
        top: -TOP_ORIGIN,
        advance,
    };
    let Some(outline) = font.outline_glyph(glyph) else {
        return blank;
    };
    let bounds = outline.px_bounds();
    let (w, h) = (bounds.width() as usize, bounds.height() as usize);
    if w == 0 || h == 0 || w > 256 || h > 256 {
        return blank;
    }
    let mut coverage = vec![0u8; w * h];
    outline.draw(|x, y, c| {
        if let Some(px) = coverage.get_mut(y as usize * w + x as usize) {
            *px = (c.clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    });
    Glyph {
        id: u32::from(ch),
        bitmap: sdf::sdf(&coverage, w, h),
        width: w as u32,
        height: h as u32,
        left: bounds.min.x as i32,
        top: (-bounds.min.y) as i32 - TOP_ORIGIN,
        advance,
    }
}

/// Font folders for the process-wide library; set once at start-up (by
/// `tudi serve --fonts-dir`), before the first glyph request.
static DIRS: OnceLock<Vec<PathBuf>> = OnceLock::new();
static LIBRARY: OnceLock<FontLibrary> = OnceLock::new();

/// Sets the font folders (ignored once the library has been built).
pub fn set_font_dirs(dirs: Vec<PathBuf>) {
    let _ = DIRS.set(dirs);
}

/// The process-wide font library, built on first use (reads the font
/// folders: call from a blocking thread).
pub fn library() -> &'static FontLibrary {
    LIBRARY.get_or_init(|| {
        let dirs = DIRS
            .get()
            .cloned()
            .unwrap_or_else(|| vec![PathBuf::from(DEFAULT_FONTS_DIR)]);
        let lib = FontLibrary::discover(&dirs);
        tracing::info!(
            fonts = lib.faces.len(),
            cjk = lib.has_cjk(),
            "font library ready"
        );
        lib
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("0-255.pbf").ok(), Some(0));
        assert_eq!(parse_range("65280-65535.pbf").ok(), Some(65280));
        assert_eq!(parse_range("256-511").ok(), Some(256));
        for bad in [
            "0-254.pbf",
            "abc.pbf",
            "65536-65791.pbf",
            "1-256.pbf",
            "-0-255.pbf",
            "0-255.png",
            "00000000000-255.pbf",
            "",
        ] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stacks() {
        assert_eq!(
            parse_stack("Noto Sans CJK SC Regular, Noto Sans Regular").ok(),
            Some(vec![
                "Noto Sans CJK SC Regular".to_string(),
                "Noto Sans Regular".to_string()
            ])
        );
        for bad in ["../../etc/passwd", "a/b", "a\\b", "a,,b", "a.ttf", "a\0b"] {
            assert!(parse_stack(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn embedded_font_renders_latin() {
        let lib = FontLibrary::discover(&[]);
        let names: Vec<String> = lib.fonts().into_iter().map(|f| f.name).collect();
        assert_eq!(names, ["Noto Sans Regular"]);
        let pbf = lib
            .render(&["Nope".into(), "Noto Sans Regular".into()], 0)
            .expect("render");
        assert!(pbf.len() > 20_000, "{}", pbf.len());
        assert!(matches!(
            lib.render(&["Nope".into()], 0),
            Err(GlyphError::UnknownStack(_))
        ));
    }

    #[test]
    fn glyph_metrics_are_plausible() {
        let font = FontRef::try_from_slice(EMBEDDED).expect("font");
        let g = render_glyph(&font, 'H');
        // Cap height of Noto Sans is 0.714 em: ~17 px at 24 px.
        assert!((15..=19).contains(&g.height), "{g:?}");
        assert_eq!(g.top, g.height as i32 - TOP_ORIGIN);
        assert_eq!(
            g.bitmap.len(),
            (g.width as usize + 6) * (g.height as usize + 6)
        );
        let space = render_glyph(&font, ' ');
        assert!(space.bitmap.is_empty() && space.advance > 3, "{space:?}");
    }
}
