//! Grids and fields.
//!
//! A field on an `nx × ny` grid is stored row-major, `a[i * ny + j] =
//! a(xᵢ, yⱼ)`: the first index is x and rows are contiguous in y (the layout
//! of `docs/specs/ns2d-periodic.md`). A 1D field is a grid with
//! `ny = 1`; the stencils then reduce to their 1D forms.

use crate::FieldError;

/// A uniform rectangular grid with spacings `dx`, `dy`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// Points along x (rows).
    pub nx: usize,
    /// Points along y (contiguous).
    pub ny: usize,
    /// Spacing along x.
    pub dx: f64,
    /// Spacing along y.
    pub dy: f64,
}

impl Grid {
    /// A grid; sizes must be at least 1 and spacings positive and finite.
    pub fn new(nx: usize, ny: usize, dx: f64, dy: f64) -> Result<Self, FieldError> {
        if nx == 0 || ny == 0 {
            return Err(FieldError::EmptyGrid { nx, ny });
        }
        for (what, h) in [("dx", dx), ("dy", dy)] {
            if !(h.is_finite() && h > 0.0) {
                return Err(FieldError::BadSpacing { what, value: h });
            }
        }
        Ok(Grid { nx, ny, dx, dy })
    }

    /// The periodic square `[0, L)²` with `n × n` points.
    pub fn periodic_square(n: usize, length: f64) -> Result<Self, FieldError> {
        let h = length / n as f64;
        Self::new(n, n, h, h)
    }

    /// A 1D periodic grid of `n` points on `[0, L)`.
    pub fn line(n: usize, length: f64) -> Result<Self, FieldError> {
        Self::new(n, 1, length / n as f64, 1.0)
    }

    /// Number of points.
    #[inline]
    pub fn len(&self) -> usize {
        self.nx * self.ny
    }

    /// Whether the grid has no points (never, for a grid built by `new`).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Linear index of `(i, j)`.
    #[inline]
    pub fn idx(&self, i: usize, j: usize) -> usize {
        i * self.ny + j
    }

    /// Linear index of `(i, j)` with both indices wrapped periodically.
    #[inline]
    pub fn wrap(&self, i: isize, j: isize) -> usize {
        let i = i.rem_euclid(self.nx as isize) as usize;
        let j = j.rem_euclid(self.ny as isize) as usize;
        i * self.ny + j
    }

    /// Linear index of `(i, j)` if it lies inside the grid (non-periodic).
    #[inline]
    pub fn inside(&self, i: isize, j: isize) -> Option<usize> {
        (i >= 0 && j >= 0 && (i as usize) < self.nx && (j as usize) < self.ny)
            .then(|| i as usize * self.ny + j as usize)
    }

    /// Samples `f(x, y)` at the grid points `(i dx, j dy)`.
    pub fn sample(&self, f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.len());
        for i in 0..self.nx {
            for j in 0..self.ny {
                out.push(f(i as f64 * self.dx, j as f64 * self.dy));
            }
        }
        out
    }

    /// The linear indices of every `stride`-th point along each axis,
    /// from `(0, 0)` (observation points; a stride of 0 counts as 1).
    pub fn strided(&self, stride: usize) -> Vec<usize> {
        let stride = stride.max(1);
        (0..self.nx).step_by(stride).flat_map(|i| (0..self.ny).step_by(stride).map(move |j| self.idx(i, j))).collect()
    }

    /// Checks that a slice holds one value per point.
    pub fn check(&self, what: &'static str, len: usize) -> Result<(), FieldError> {
        if len == self.len() { Ok(()) } else { Err(FieldError::Length { what, expected: self.len(), got: len }) }
    }
}
