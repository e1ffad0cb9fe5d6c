//! Protocol-buffer encoding of a glyph range, the `glyphs.proto` message
//! MapLibre reads (`llmr.glyphs`):
//!
//! ```text
//! message glyph { uint32 id = 1; bytes bitmap = 2; uint32 width = 3; uint32 height = 4;
//!                 sint32 left = 5; sint32 top = 6; uint32 advance = 7; }
//! message fontstack { string name = 1; string range = 2; repeated glyph glyphs = 3; }
//! message glyphs { repeated fontstack stacks = 1; }
//! ```
//!
//! Seven fields do not justify a code generator: written by hand, checked
//! in the integration tests with an independent decoder (prost derive).

/// One rendered glyph: metrics in pixels at 24 px per em; `bitmap` is the
/// SDF of `(width + 6) * (height + 6)` bytes, empty for blank glyphs.
#[derive(Debug, Clone, PartialEq)]
pub struct Glyph {
    pub id: u32,
    pub bitmap: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub left: i32,
    pub top: i32,
    pub advance: u32,
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn uint(out: &mut Vec<u8>, field: u32, v: u32) {
    key(out, field, 0);
    varint(out, u64::from(v));
}

fn sint(out: &mut Vec<u8>, field: u32, v: i32) {
    key(out, field, 0);
    varint(out, u64::from(((v << 1) ^ (v >> 31)) as u32));
}

fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    key(out, field, 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn glyph(g: &Glyph) -> Vec<u8> {
    let mut m = Vec::with_capacity(g.bitmap.len() + 24);
    uint(&mut m, 1, g.id);
    if !g.bitmap.is_empty() {
        bytes(&mut m, 2, &g.bitmap);
    }
    uint(&mut m, 3, g.width);
    uint(&mut m, 4, g.height);
    sint(&mut m, 5, g.left);
    sint(&mut m, 6, g.top);
    uint(&mut m, 7, g.advance);
    m
}

/// The `glyphs` message with one font stack named `name` for `range`
/// (e.g. `"0-255"`).
pub fn encode(name: &str, range: &str, glyphs: &[Glyph]) -> Vec<u8> {
    let mut stack = Vec::new();
    bytes(&mut stack, 1, name.as_bytes());
    bytes(&mut stack, 2, range.as_bytes());
    for g in glyphs {
        bytes(&mut stack, 3, &glyph(g));
    }
    let mut out = Vec::with_capacity(stack.len() + 8);
    bytes(&mut out, 1, &stack);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag() {
        let mut v = Vec::new();
        varint(&mut v, 300);
        assert_eq!(v, [0xac, 0x02]);
        let mut s = Vec::new();
        sint(&mut s, 6, -1);
        assert_eq!(s, [6 << 3, 1]);
        let mut s = Vec::new();
        sint(&mut s, 6, -27);
        assert_eq!(s, [6 << 3, 53]);
    }

    #[test]
    fn empty_range_is_one_stack() {
        let b = encode("A", "0-255", &[]);
        // stacks(1, len) { name(1) "A", range(2) "0-255" }
        assert_eq!(b[0], (1 << 3) | 2);
        assert_eq!(usize::from(b[1]), b.len() - 2);
        assert_eq!(&b[2..5], &[(1 << 3) | 2, 1, b'A']);
    }
}
