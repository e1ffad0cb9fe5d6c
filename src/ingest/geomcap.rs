//! A geozero geometry sink for untrusted binary geometry (GeoPackage WKB):
//! wraps [`GeoWriter`] but never pre-allocates more than the blob could
//! hold (a WKB count of 2^32 would otherwise abort the process in
//! `Vec::with_capacity`) and stops as soon as a vertex cap is passed.

use geo::Geometry;
use geozero::error::{GeozeroError, Result};
use geozero::geo_types::GeoWriter;
use geozero::{CoordDimensions, GeomProcessor};

/// Error text marking a vertex-cap stop (told apart from corrupt WKB).
pub(crate) const OVER_CAP: &str = "vertex cap exceeded";

pub(crate) struct CappedGeo {
    inner: GeoWriter,
    /// Largest plausible element count: the blob's length in bytes.
    max_size: usize,
    max_vertices: usize,
    pub(crate) vertices: usize,
}

impl CappedGeo {
    pub(crate) fn new(blob_len: usize, max_vertices: usize) -> CappedGeo {
        CappedGeo {
            inner: GeoWriter::new(),
            max_size: blob_len,
            max_vertices,
            vertices: 0,
        }
    }

    pub(crate) fn take(&mut self) -> Option<Geometry> {
        self.inner.take_geometry()
    }

    fn size(&self, size: usize) -> usize {
        size.min(self.max_size)
    }

    fn vertex(&mut self) -> Result<()> {
        self.vertices += 1;
        if self.vertices > self.max_vertices {
            return Err(GeozeroError::Geometry(OVER_CAP.into()));
        }
        Ok(())
    }
}

impl GeomProcessor for CappedGeo {
    fn dimensions(&self) -> CoordDimensions {
        self.inner.dimensions()
    }
    fn xy(&mut self, x: f64, y: f64, idx: usize) -> Result<()> {
        self.vertex()?;
        self.inner.xy(x, y, idx)
    }
    fn coordinate(
        &mut self,
        x: f64,
        y: f64,
        z: Option<f64>,
        m: Option<f64>,
        t: Option<f64>,
        tm: Option<u64>,
        idx: usize,
    ) -> Result<()> {
        self.vertex()?;
        self.inner.coordinate(x, y, z, m, t, tm, idx)
    }
    fn empty_point(&mut self, idx: usize) -> Result<()> {
        self.inner.empty_point(idx)
    }
    fn point_begin(&mut self, idx: usize) -> Result<()> {
        self.inner.point_begin(idx)
    }
    fn point_end(&mut self, idx: usize) -> Result<()> {
        self.inner.point_end(idx)
    }
    fn multipoint_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        let s = self.size(size);
        self.inner.multipoint_begin(s, idx)
    }
    fn multipoint_end(&mut self, idx: usize) -> Result<()> {
        self.inner.multipoint_end(idx)
    }
    fn linestring_begin(&mut self, tagged: bool, size: usize, idx: usize) -> Result<()> {
        let s = self.size(size);
        self.inner.linestring_begin(tagged, s, idx)
    }
    fn linestring_end(&mut self, tagged: bool, idx: usize) -> Result<()> {
        self.inner.linestring_end(tagged, idx)
    }
    fn multilinestring_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        let s = self.size(size);
        self.inner.multilinestring_begin(s, idx)
    }
    fn multilinestring_end(&mut self, idx: usize) -> Result<()> {
        self.inner.multilinestring_end(idx)
    }
    fn polygon_begin(&mut self, tagged: bool, size: usize, idx: usize) -> Result<()> {
        let s = self.size(size);
        self.inner.polygon_begin(tagged, s, idx)
    }
    fn polygon_end(&mut self, tagged: bool, idx: usize) -> Result<()> {
        self.inner.polygon_end(tagged, idx)
    }
    fn multipolygon_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        let s = self.size(size);
        self.inner.multipolygon_begin(s, idx)
    }
    fn multipolygon_end(&mut self, idx: usize) -> Result<()> {
        self.inner.multipolygon_end(idx)
    }
    fn geometrycollection_begin(&mut self, size: usize, idx: usize) -> Result<()> {
        let s = self.size(size);
        self.inner.geometrycollection_begin(s, idx)
    }
    fn geometrycollection_end(&mut self, idx: usize) -> Result<()> {
        self.inner.geometrycollection_end(idx)
    }
}
