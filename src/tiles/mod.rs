//! Vector tiles: tile math, clipping, simplification, MVT encoding.
